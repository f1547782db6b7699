"""What an uploaded file is, judged by its bytes, never by its name or the sender's Content-Type;
and a file name made safe to store and to send back in a Content-Disposition header."""

from __future__ import annotations

import io
import unicodedata
import zipfile

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TEXT = "text/plain; charset=utf-8"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
ALL = (PDF, PNG, JPEG, TEXT, DOCX, ODT)

# The main part a Word document's [Content_Types].xml names (ECMA-376 part 1, 11.3.10).
_DOCX_MAIN = b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
MAX_FILE_NAME = 200
_FALLBACK_NAME = "document"
# A zip bomb must not be inflated to look inside it: the parts read here are small.
_MAX_PART_BYTES = 64 * 1024


def judge(data: bytes) -> str | None:
    """The content type of a file we accept (PDF, PNG, JPEG, plain UTF-8 text, DOCX, ODT), or None."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        return _office(data)
    return TEXT if _plain_text(data) else None


def _plain_text(data: bytes) -> bool:
    """Valid UTF-8 without NULs or other control characters but tab, line feed, carriage return, form feed."""
    if not data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(ord(c) < 32 and c not in "\t\n\r\f" for c in text) and "\x7f" not in text


def _office(data: bytes) -> str | None:
    """DOCX or ODT, told apart by what the zip container says it holds."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names and _small_part(archive, "mimetype").strip() == ODT.encode():
                return ODT
            if "[Content_Types].xml" in names and _DOCX_MAIN in _small_part(archive, "[Content_Types].xml"):
                return DOCX
    except (zipfile.BadZipFile, OSError, ValueError, RuntimeError, EOFError, NotImplementedError):
        return None
    return None


def _small_part(archive: zipfile.ZipFile, name: str) -> bytes:
    if archive.getinfo(name).file_size > _MAX_PART_BYTES:
        return b""
    with archive.open(name) as part:
        return part.read(_MAX_PART_BYTES)


def safe_file_name(name: str | None) -> str:
    """The last path part of `name`, without control or format characters, trimmed, at most
    MAX_FILE_NAME characters (keeping the extension); 'document' when nothing is left."""
    if not name:
        return _FALLBACK_NAME
    last = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(c for c in unicodedata.normalize("NFC", last) if unicodedata.category(c)[0] != "C")
    # Surrogates are category Cs: what is left encodes as UTF-8.
    kept = kept.strip().strip(".").strip()
    if not kept:
        return _FALLBACK_NAME
    if len(kept) > MAX_FILE_NAME:
        stem, dot, extension = kept.rpartition(".")
        if dot and 0 < len(extension) <= 16 and stem:
            kept = stem[: MAX_FILE_NAME - len(extension) - 1].rstrip() + "." + extension
        else:
            kept = kept[:MAX_FILE_NAME]
    return kept
