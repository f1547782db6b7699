"""Keyboard-only use and the language the browser asks for."""

from __future__ import annotations

from collections.abc import Callable

from tests.browser.conftest import skip_without_chromium

skip_without_chromium()

from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.support import DEMO_PASSWORD, accessibility_violations, sign_in, with_axe  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

MAX_TABS = 30


def focused_text(page: Page) -> str:
    return str(page.evaluate("document.activeElement ? document.activeElement.textContent : ''")).strip()


def test_sign_in_and_out_with_the_keyboard_alone(stamm: ServerProcess, new_page: Callable[..., Page]) -> None:
    page = new_page("de-DE")
    page.goto(f"{stamm.base_url}/app/")
    # The e-mail field has the focus on arrival; no mouse from here on.
    expect(page.locator("#signin-email")).to_be_focused()
    page.keyboard.type("ben@demo.stamm")
    page.keyboard.press("Tab")
    expect(page.locator("#signin-password")).to_be_focused()
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("viewer-name")).to_have_text("Ben Okafor")

    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if focused_text(page) == "Abmelden":
            break
    assert focused_text(page) == "Abmelden", "the sign-out button is not reachable by Tab"
    page.keyboard.press("Enter")
    expect(page.locator("#signin-email")).to_be_visible()


def test_english_browsers_get_english_texts_with_the_german_terms(
    stamm: ServerProcess, new_page: Callable[..., Page]
) -> None:
    page = new_page("en-GB")
    page.goto(f"{stamm.base_url}/app/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")

    german = new_page("de-DE")
    german.goto(f"{stamm.base_url}/widget-demo")
    expect(german.locator("stamm-chat-widget h2")).to_have_text("Online-Beratung")


def test_axe_finds_no_wcag_aa_violations_in_the_console_and_the_widget(
    stamm: ServerProcess, new_page: Callable[..., Page]
) -> None:
    page = with_axe(new_page("de-DE"))
    page.goto(f"{stamm.base_url}/app/")
    pages = {"sign-in": accessibility_violations(page)}
    sign_in(page, stamm, "admin@demo.stamm", "Demo Admin")
    expect(page.get_by_text("Chats: 0 von 1")).to_be_visible()
    pages["dashboard"] = accessibility_violations(page)
    page.get_by_role("link", name="Klientenübersicht").click()
    expect(page.locator("table.list tbody tr")).to_have_count(2)
    pages["overview"] = accessibility_violations(page)
    page.locator("table.list tbody tr a").first.click()
    page.get_by_role("button", name="Stammberater:in ändern").click()
    expect(page.get_by_label("Neue:r Stammberater:in")).to_be_focused()
    pages["folder"] = accessibility_violations(page)
    page.get_by_role("link", name="Verwaltung").click()
    expect(page.locator("tr[data-counsellor='Anna Berger']")).to_be_visible()
    pages["admin"] = accessibility_violations(page)

    visitor = with_axe(new_page("de-DE"))
    visitor.goto(f"{stamm.base_url}/widget-demo")
    expect(visitor.locator("stamm-chat-widget li[data-channel=chat]")).to_be_visible()
    pages["widget"] = accessibility_violations(visitor)
    assert {name: found for name, found in pages.items() if found} == {}
