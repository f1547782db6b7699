"""Steps the browser tests share: signing in to the console, the widget's parts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.support.server import ServerProcess

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
