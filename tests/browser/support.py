"""Steps the browser tests share: signing in to the console, the widget's parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.support.server import REPO_ROOT, ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

DEMO_PASSWORD = "demo-password-1"


def sign_in(page: Page, stamm: ServerProcess, email: str, name: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{stamm.base_url}/app/")
    page.locator("#signin-email").fill(email)
    page.locator("#signin-password").fill(DEMO_PASSWORD)
    page.locator("#signin-password").press("Enter")
    expect(page.get_by_test_id("viewer-name")).to_have_text(name)


def widget(page: Page) -> Locator:
    """The widget's element; Playwright's CSS locators reach into its (open) shadow root."""
    return page.locator("stamm-chat-widget")


def chat_light(page: Page) -> Locator:
    return widget(page).locator("li[data-channel=chat]")


AXE = REPO_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"


def with_axe(page: Page) -> Page:
    """The page with axe-core in every document it loads (an init script, which the page's CSP
    does not apply to); axe-core is a pinned dev dependency of web/ (installed by `npm ci`)."""
    page.add_init_script(path=str(AXE))
    return page


def accessibility_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2 A/AA violations on the page (contrast, labels, names, ARIA, ...), shadow
    roots included; the page must come from `with_axe`."""
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']});
            const violations = result.violations.map(
                v => `${v.id}: ${v.help} -> ${v.nodes.map(n => n.target.join(' ')).join(', ')}`);
            return {violations, passed: result.passes.map(p => p.id)};
        }"""
    )
    # axe ran and checked what matters here (else an empty list would prove nothing).
    assert "color-contrast" in found["passed"] and {"label", "button-name"} & set(found["passed"]), found
    return list(found["violations"])
