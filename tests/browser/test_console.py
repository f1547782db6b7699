"""The console's overview and administration in a real browser: filters, a new counsellor whose
status the admin sees change live, reassigning clients, and a deactivation that ends the
counsellor's open console."""

from __future__ import annotations

from collections.abc import Callable

from tests.browser.conftest import skip_without_chromium

skip_without_chromium()

from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.support import DEMO_PASSWORD, sign_in  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402


def test_the_client_overview_searches_and_filters(
    stamm: ServerProcess, new_page: Callable[..., Page]
) -> None:
    admin = new_page("de-DE")
    sign_in(admin, stamm, "admin@demo.stamm", "Demo Admin")
    admin.get_by_role("link", name="Klientenübersicht").click()
    rows = admin.locator("table.list tbody tr")
    expect(rows).to_have_count(2)
    admin.get_by_label("Suche").fill("von Ben")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Ben Okafor")
    admin.get_by_label("Suche").fill("")
    admin.get_by_label("Filter").select_option("unassigned")
    expect(rows).to_have_count(0)

    anna = new_page("en-GB")
    sign_in(anna, stamm, "anna@demo.stamm", "Anna Berger")
    anna.get_by_role("link", name="Client overview").click()
    anna.get_by_label("Filter").select_option("mine")
    expect(anna.locator("table.list tbody tr")).to_have_count(1)
    expect(anna.locator("table.list tbody tr")).to_contain_text("Klient:in von Anna")


def test_the_admin_creates_watches_reassigns_and_deactivates(
    stamm: ServerProcess, new_page: Callable[..., Page]
) -> None:
    admin = new_page("de-DE")
    sign_in(admin, stamm, "admin@demo.stamm", "Demo Admin")
    admin.get_by_role("link", name="Verwaltung").click()
    admin.get_by_label("Anzeigename").fill("Clara Neu")
    admin.get_by_label("E-Mail").fill("clara@demo.stamm")
    admin.get_by_label("Passwort").fill(DEMO_PASSWORD)
    admin.get_by_role("button", name="Anlegen").click()
    clara_row = admin.locator("tr[data-counsellor='Clara Neu']")
    expect(clara_row.get_by_test_id("status")).to_have_text("Offline")

    # Clara signs in and goes online: the admin's table follows live.
    clara = new_page("de-DE")
    sign_in(clara, stamm, "clara@demo.stamm", "Clara Neu")
    clara.get_by_label("Online", exact=True).check()
    expect(clara_row.get_by_test_id("status")).to_have_text("Online")

    # Anna's clients go to Ben.
    admin.get_by_label("Von").select_option(label="Anna Berger")
    admin.get_by_label("An", exact=True).select_option(label="Ben Okafor")
    admin.get_by_label("Begründung").fill("Elternzeit")
    admin.get_by_role("button", name="Klient:innen umverteilen").click()
    expect(admin.get_by_role("status").filter(has_text="umverteilt")).to_have_text(
        "1 Klient:innen umverteilt"
    )

    # Deactivating Clara ends her session: her open console returns to the sign-in.
    clara_row.get_by_role("button", name="Deaktivieren Clara Neu").click()
    expect(clara_row).to_contain_text("inaktiv")
    expect(clara.locator("#signin-email")).to_be_visible()
