"""The widget on another origin's page: allowed by STAMM_ALLOWED_ORIGINS it works (HTTP with
CORS preflight, and the websocket), from any other origin the API refuses it and it says so."""

from __future__ import annotations

from collections.abc import Callable

from tests.browser.conftest import ForeignSite, skip_without_chromium

skip_without_chromium()

from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.support import chat_light, widget  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402


def test_an_allowed_origin_embeds_the_live_widget(
    stamm: ServerProcess, allowed_site: ForeignSite, new_page: Callable[..., Page]
) -> None:
    page = new_page("en-GB")
    page.goto(f"{allowed_site.origin}/")
    expect(widget(page).locator(".connection")).to_have_attribute("data-state", "online")
    expect(chat_light(page)).to_have_attribute("data-available", "false")
    # The host page's styles stay outside the shadow root.
    color = chat_light(page).evaluate("element => getComputedStyle(element).color")
    assert color == "rgb(27, 31, 36)"


def test_another_origin_is_refused_and_the_widget_says_so(
    stamm: ServerProcess, other_site: ForeignSite, new_page: Callable[..., Page]
) -> None:
    page = new_page("en-GB")
    page.goto(f"{other_site.origin}/")
    state = widget(page).locator(".connection")
    expect(state).to_have_attribute("data-state", "refused")
    expect(state).to_contain_text("may not embed")
    expect(chat_light(page)).to_have_count(0)


def test_the_widget_says_it_is_offline_and_reconnects_by_itself(
    stamm: ServerProcess, allowed_site: ForeignSite, new_page: Callable[..., Page]
) -> None:
    page = new_page("en-GB")
    page.goto(f"{allowed_site.origin}/")
    state = widget(page).locator(".connection")
    expect(state).to_have_attribute("data-state", "online")
    page.context.set_offline(True)
    expect(state).to_have_attribute("data-state", "offline")
    expect(state).to_contain_text("reconnecting")
    page.context.set_offline(False)
    expect(state).to_have_attribute("data-state", "online")
