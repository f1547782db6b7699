"""The Klientenmappe's notes, documents and monitoring, the member and staff lists, and the
invitation page, in a real browser against the real server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes, policy
from pathlib import Path

from tests.browser.conftest import skip_without_chromium

skip_without_chromium()

from playwright.sync_api import Page, expect  # noqa: E402

from tests.browser.support import accessibility_violations, sign_in, with_axe  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402
from tests.support.waiting import eventually  # noqa: E402

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def open_folder(page: Page, name: str) -> None:
    page.get_by_role("link", name="Klientenübersicht").click()
    page.get_by_role("link", name=name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)


def test_notes_documents_and_monitoring_in_the_folder(
    stamm: ServerProcess, new_page: Callable[..., Page], screenshots: Path
) -> None:
    admin = with_axe(new_page("de-DE"))
    sign_in(admin, stamm, "admin@demo.stamm", "Demo Admin")

    # The catalogue first: a category with one option.
    admin.get_by_role("link", name="Monitoring").click()
    admin.get_by_label("Name", exact=True).fill("Wohnen")
    admin.get_by_role("button", name="Thema hinzufügen").click()
    expect(admin.locator("form[data-topic='Wohnen']")).to_be_visible()
    admin.get_by_label("Kategorie").select_option(label="Wohnen")
    admin.get_by_label("Name", exact=True).fill("Mietschulden")
    admin.get_by_role("button", name="Thema hinzufügen").click()
    expect(admin.locator("form[data-topic='Mietschulden']")).to_be_visible()
    assert accessibility_violations(admin) == []

    anna = with_axe(new_page("de-DE"))
    sign_in(anna, stamm, "anna@demo.stamm", "Anna Berger")
    open_folder(anna, "Klient:in von Anna")

    # Notizen: added, shown, edited.
    anna.get_by_role("tab", name="Notizen").click()
    anna.get_by_label("Neue Notiz").fill("Erstgespräch am Telefon.")
    anna.get_by_role("button", name="Notiz speichern").click()
    notes = anna.get_by_test_id("notes")
    expect(notes).to_contain_text("Erstgespräch am Telefon.")
    expect(notes).to_contain_text("Anna Berger")
    notes.get_by_role("button", name="Bearbeiten Notiz").click()
    anna.get_by_label("Notiz bearbeiten").fill("Erstgespräch am Telefon, Termin folgt.")
    notes.get_by_role("button", name="Speichern").click()
    expect(notes).to_contain_text("Termin folgt.")
    expect(notes).to_contain_text("bearbeitet")

    # Dokumente: uploaded through the multipart request, downloaded through its link.
    anna.get_by_role("tab", name="Dokumente").click()
    anna.get_by_label("Datei").set_input_files(
        files=[{"name": "bericht.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    anna.get_by_role("button", name="Hochladen").click()
    documents = anna.get_by_test_id("documents")
    expect(documents).to_contain_text("application/pdf")
    with anna.expect_download() as download:
        documents.get_by_role("link", name="bericht.pdf").click()
    assert Path(download.value.path()).read_bytes() == PDF
    assert download.value.suggested_filename == "bericht.pdf"

    # Monitoring: an entry with a topic from the catalogue.
    anna.get_by_role("tab", name="Monitoring").click()
    anna.locator("summary", has_text="Kontakt dokumentieren").click()
    anna.get_by_label("Dauer (Minuten)").fill("45")
    anna.get_by_label("Mietschulden").check()
    anna.get_by_label("Ergebnis").fill("Schuldnerberatung vermittelt")
    anna.get_by_role("form", name="Kontakt dokumentieren").get_by_role(
        "button", name="Kontakt dokumentieren"
    ).click()
    entries = anna.get_by_test_id("monitoring-entries")
    expect(entries).to_contain_text("Wohnen: Mietschulden")
    expect(entries).to_contain_text("45 Min.")
    expect(entries).to_contain_text("Schuldnerberatung vermittelt")
    assert accessibility_violations(anna) == []
    anna.screenshot(path=str(screenshots / "console-folder-monitoring.png"))

    # The uploader deletes the document after a confirmation.
    anna.get_by_role("tab", name="Dokumente").click()
    anna.get_by_role("button", name="Löschen bericht.pdf").click()
    anna.get_by_role("button", name="Ja, Löschen").click()
    expect(anna.get_by_text("Noch keine Dokumente.")).to_be_visible()

    # The statistics' CSV, fetched with the admin's token and saved.
    admin.get_by_role("link", name="Monitoring").click()
    admin.get_by_role("button", name="Anzeigen").click()
    shown = admin.get_by_test_id("statistics").or_(admin.get_by_text("Keine Kontakte im Zeitraum."))
    expect(shown).to_be_visible()
    expect(admin.get_by_role("alert")).to_have_count(0)
    with admin.expect_download() as csv:
        admin.get_by_role("button", name="CSV herunterladen").click()
    assert csv.value.suggested_filename.endswith(".csv")
    assert Path(csv.value.path()).read_bytes()


def test_the_member_list_blocks_and_unblocks_a_client(
    stamm: ServerProcess, new_page: Callable[..., Page], screenshots: Path
) -> None:
    admin = with_axe(new_page("de-DE"))
    sign_in(admin, stamm, "admin@demo.stamm", "Demo Admin")
    admin.get_by_role("link", name="Mitglieder").click()
    row = admin.locator("tr[data-member='Klient:in von Ben']")
    expect(row.get_by_test_id("account")).to_have_text("Aktiv")
    assert accessibility_violations(admin) == []

    # Blocking asks first; cancelling changes nothing.
    row.get_by_role("button", name="Sperren Klient:in von Ben").click()
    row.get_by_role("button", name="Abbrechen").click()
    expect(row.get_by_test_id("account")).to_have_text("Aktiv")
    row.get_by_role("button", name="Sperren Klient:in von Ben").click()
    expect(row.get_by_role("group")).to_contain_text("Klient:in von Ben sperren?")
    admin.screenshot(path=str(screenshots / "console-members.png"))
    row.get_by_role("button", name="Ja, Sperren").click()
    expect(row.get_by_test_id("account")).to_have_text("Gesperrt")

    admin.get_by_label("Kontostatus").select_option("BLOCKED")
    expect(admin.locator("table[data-testid=members] tbody tr")).to_have_count(1)
    row.get_by_role("button", name="Entsperren Klient:in von Ben").click()
    row.get_by_role("button", name="Ja, Entsperren").click()
    expect(admin.locator("table[data-testid=members] tbody tr")).to_have_count(0)


def invitation_token(outbox: Path, address: str) -> str:
    """The token in the newest invitation mail to `address` the server wrote to its outbox."""

    def read() -> str | None:
        for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
            mail = message_from_bytes(path.read_bytes(), policy=policy.default)
            if address in str(mail["To"]):
                body = mail.get_body(preferencelist=("plain", "html"))
                found = re.search(
                    r"invitation\?token=([A-Za-z0-9_\-.~%]+)", body.get_content() if body else ""
                )
                if found:
                    return found.group(1)
        return None

    async def find() -> str | None:
        return await asyncio.to_thread(read)

    # Playwright's sync API runs an event loop in this thread: wait in a thread of its own.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(
            asyncio.run, eventually(find, f"an invitation mail to {address} in {outbox}")
        ).result()


def test_an_invited_counsellor_sets_a_password_on_the_invitation_page(
    stamm: ServerProcess, new_page: Callable[..., Page]
) -> None:
    admin = new_page("de-DE")
    sign_in(admin, stamm, "admin@demo.stamm", "Demo Admin")
    admin.get_by_role("link", name="Beratende").click()
    admin.get_by_label("Anzeigename").fill("Dora Neu")
    admin.get_by_label("E-Mail").fill("dora@demo.stamm")
    admin.get_by_role("button", name="Einladung senden").click()
    dora_row = admin.locator("tr[data-staff='Dora Neu']")
    expect(dora_row.get_by_test_id("invitation")).to_have_text("Eingeladen")
    admin.get_by_label("Suche").fill("dora")
    expect(admin.locator("table[data-testid=staff] tbody tr")).to_have_count(1)

    token = invitation_token(Path(stamm.settings["STAMM_DATA_DIR"]) / "outbox", "dora@demo.stamm")
    dora = with_axe(new_page("de-DE"))
    dora.goto(f"{stamm.base_url}/invitation?token={token}")
    expect(dora.get_by_role("heading", name="Einladung annehmen")).to_be_visible()
    assert accessibility_violations(dora) == []
    dora.get_by_label("Neues Passwort").fill("doras-password-1")
    dora.get_by_label("Passwort wiederholen").fill("doras-password-1")
    dora.get_by_role("button", name="Passwort setzen").click()
    expect(dora.get_by_test_id("viewer-name")).to_have_text("Dora Neu")

    admin.reload()
    admin.get_by_role("link", name="Beratende").click()
    expect(dora_row.get_by_test_id("invitation")).to_have_text("Registriert")
