"""The README's settings table, generated from the Settings class: `python -m bootstrap.settings_table`
rewrites it in README.md (`make settings-table`); a test fails when the two drift apart."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from bootstrap.settings import Settings, variable

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN = "<!-- settings table: generated from bootstrap/settings.py by `make settings-table` -->"
END = "<!-- end of settings table -->"
_KINDS = {bool: "flag", int: "integer", float: "number", str: "text", Path: "path", SecretStr: "secret"}


def _kind(info: FieldInfo) -> str:
    annotation = info.annotation
    arguments = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    if getattr(annotation, "__origin__", None) is tuple:
        return "list"
    return _KINDS.get(arguments[0] if arguments else annotation, "text")  # type: ignore[arg-type]


def _default(info: FieldInfo) -> str:
    extra: Any = info.json_schema_extra
    if isinstance(extra, dict) and "shown_default" in extra:
        return str(extra["shown_default"])
    value = info.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{int(value)}`"
    return f"`{value}`"


def table() -> str:
    rows = ["| variable | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, info in Settings.model_fields.items():
        rows.append(f"| `{variable(name)}` | {_kind(info)} | {_default(info)} | {info.description} |")
    return "\n".join(rows)


def with_table(readme: str) -> str:
    """`readme` with the generated table between the markers."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), flags=re.DOTALL)
    if not pattern.search(readme):
        raise SystemExit(f"README.md lacks the markers {BEGIN!r} and {END!r}")
    return pattern.sub(lambda _: f"{BEGIN}\n{table()}\n{END}", readme)


if __name__ == "__main__":
    README.write_text(with_table(README.read_text()))
    print("wrote the settings table in README.md", file=sys.stderr)
