"""The five-minute story in a real browser: a counsellor goes online, a visitor's widget turns
available, the visitor writes a chat that arrives live on the counsellor's dashboard, and an
admin hands the client to another counsellor with the pen while another console watches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.browser.conftest import skip_without_chromium

skip_without_chromium()

from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.support import chat_light, sign_in, widget  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402


def test_a_visitors_chat_arrives_live_and_the_admin_changes_the_primary_with_the_pen(
    stamm: ServerProcess, new_page: Callable[..., Page], screenshots: Path
) -> None:
    anna = new_page("de-DE")
    sign_in(anna, stamm, "anna@demo.stamm", "Anna Berger")

    visitor = new_page("de-DE")
    visitor.goto(f"{stamm.base_url}/widget-demo")
    expect(chat_light(visitor)).to_have_attribute("data-available", "false")

    # The counsellor goes online: the anonymous visitor's widget turns available, live.
    anna.get_by_label("Online", exact=True).check()
    expect(chat_light(visitor)).to_have_attribute("data-available", "true")

    # The visitor registers in the widget and writes a chat.
    chat = widget(visitor)
    chat.get_by_role("button", name="Registrieren").click()
    chat.get_by_label("Name (frei wählbar)").fill("Kim Besucherin")
    chat.get_by_label("E-Mail").fill("kim@example.org")
    chat.get_by_label("Passwort").fill("kim-password-1")
    chat.locator("form.signin button[type=submit]").click()
    chat.get_by_label("Ihre Nachricht").fill("Hallo, ich möchte gern mit jemandem sprechen.")
    chat.get_by_role("button", name="Senden").click()
    expect(chat.locator(".progress")).to_have_attribute("data-status", "ASSIGNED")
    expect(chat.locator(".progress")).to_contain_text("Anna Berger")

    # It arrives live on Anna's dashboard, marked new; she accepts it.
    arrived = anna.get_by_test_id("my-requests").locator("li.fresh")
    expect(arrived).to_contain_text("Kim Besucherin")
    expect(arrived).to_contain_text("Hallo, ich möchte gern mit jemandem sprechen.")
    anna.screenshot(path=screenshots / "console-dashboard.png")
    widget(visitor).locator("section.widget").screenshot(path=screenshots / "widget.png")
    arrived.get_by_role("button", name="Annehmen").click()
    expect(anna.get_by_test_id("my-requests").locator(".accepted")).to_be_visible()

    # Anna marks herself absent: the signed-in client sees her absence message, live.
    anna.get_by_label("Abwesend", exact=True).check()
    anna.get_by_label("Nachricht für Klient:innen").fill("Ab Montag bin ich wieder da.")
    anna.locator("form:has(#absence-message) button[type=submit]").click()
    expect(chat.locator(".primary")).to_contain_text("Anna Berger")
    expect(chat.locator(".absence")).to_contain_text("Ab Montag bin ich wieder da.")

    # The admin opens Kim's Klientenmappe; a second console watches the same folder.
    admin = new_page("de-DE")
    sign_in(admin, stamm, "admin@demo.stamm", "Demo Admin")
    admin.get_by_role("link", name="Verwaltung").click()
    anna_row = admin.locator("tr[data-counsellor='Anna Berger']")
    expect(anna_row.get_by_test_id("status")).to_have_text("Online")
    expect(anna_row).to_contain_text("Chats: 1 von 2")
    admin.screenshot(path=screenshots / "console-admin.png", full_page=True)
    admin.get_by_role("link", name="Klientenübersicht").click()
    admin.get_by_label("Suche").fill("Kim")
    admin.get_by_role("link", name="Kim Besucherin").click()
    expect(admin.get_by_test_id("primary-name")).to_have_text("Anna Berger")
    watcher = new_page("de-DE")
    sign_in(watcher, stamm, "admin@demo.stamm", "Demo Admin")
    watcher.goto(admin.url)
    expect(watcher.get_by_test_id("primary-name")).to_have_text("Anna Berger")
    expect(watcher.get_by_role("status").filter(has_text="Live verbunden")).to_be_visible()

    admin.get_by_role("button", name="Stammberater:in ändern").click()
    admin.get_by_label("Neue:r Stammberater:in").select_option(label="Ben Okafor")
    admin.get_by_label("Begründung").fill("Anna ist im Urlaub")
    admin.get_by_role("button", name="Speichern").click()

    expect(admin.get_by_test_id("primary-name")).to_have_text("Ben Okafor")
    history = admin.get_by_test_id("primary-history")
    expect(history).to_contain_text("Anna Berger → Ben Okafor")
    expect(history).to_contain_text("Anna ist im Urlaub")
    # The other console learns it live (primaryCounsellorChanged), without a reload.
    expect(watcher.get_by_test_id("primary-name")).to_have_text("Ben Okafor")
    expect(watcher.get_by_test_id("primary-history")).to_contain_text("Anna Berger → Ben Okafor")
    admin.screenshot(path=screenshots / "console-client-folder.png")
    # The client's widget now names Ben.
    expect(chat.locator(".primary")).to_contain_text("Ben Okafor")

    # Anna closes the chat: it leaves her list, and the client's widget follows (requestUpdated).
    anna.get_by_test_id("my-requests").get_by_role("button", name="Abschließen").click()
    expect(anna.get_by_text("Keine offenen Anfragen.")).to_be_visible()
    expect(chat.locator(".progress")).to_have_attribute("data-status", "CLOSED")
    expect(chat.get_by_role("button", name="Neue Anfrage")).to_be_visible()
