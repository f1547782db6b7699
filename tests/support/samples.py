"""Small real files of every accepted type, made here (no fixtures on disk), and a few that are not."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

from domain import file_types


@dataclass
class SampleUpload:
    """A file as an upload hands it to the use case (like starlette's UploadFile): a name, and its
    bytes in chunks; `position` tells how much was read."""

    filename: str | None
    data: bytes
    position: int = 0

    async def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.position + size
        chunk = self.data[self.position : end]
        self.position += len(chunk)
        return chunk


def pdf() -> bytes:
    """A minimal one-page PDF."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % offset for offset in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png() -> bytes:
    """A 1x1 red pixel."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def jpeg() -> bytes:
    """The start of a JFIF file (SOI, APP0) and its end (EOI): what a judge by content reads."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0 + b"\xff\xd9"


def text() -> bytes:
    return "Gesprächsnotiz: Termin am Dienstag.\r\nGrüße\n".encode()


def _zip(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            compression = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=compression)
    return out.getvalue()


def docx() -> bytes:
    types = (
        b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        b'<Default Extension="xml" ContentType="application/xml"/>'
        b'<Override PartName="/word/document.xml" ContentType="'
        b'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    body = b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>'
    return _zip({"[Content_Types].xml": types, "word/document.xml": body})


def odt() -> bytes:
    return _zip({"mimetype": file_types.ODT.encode(), "content.xml": b"<office:document-content/>"})


ACCEPTED = {
    "pdf": (pdf, file_types.PDF),
    "png": (png, file_types.PNG),
    "jpeg": (jpeg, file_types.JPEG),
    "text": (text, file_types.TEXT),
    "docx": (docx, file_types.DOCX),
    "odt": (odt, file_types.ODT),
}

REFUSED = {
    "a program": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff",
    "a GIF": b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
    "text with a NUL": b"harmless\x00text",
    "not UTF-8": "Grüße".encode("latin-1"),
    "a plain zip": _zip({"readme.txt": b"hello"}),
    "a broken zip": b"PK\x03\x04" + b"\x00" * 40,
    "an HTML page": b"\x00<html>",
}
