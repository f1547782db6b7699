"""Domain events as JSON strings for the bus: no password hash or message text leaves the process."""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import datetime
from typing import Any

from domain import model
from domain.events import (
    CounsellorStateChanged,
    Event,
    PrimaryCounsellorChanged,
    RequestChanged,
    SessionsEnded,
    SettingsChanged,
    StateMayBeStale,
)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _fields(obj: Any, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name not in drop}


def encode(event: Event) -> str:
    if isinstance(event, CounsellorStateChanged):
        body: dict[str, Any] = {
            "kind": "counsellor",
            "counsellor": _fields(event.counsellor, ("password_hash",)),
        }
    elif isinstance(event, RequestChanged):
        # Message texts never travel on the bus: subscribers read them from the database.
        request = _fields(event.request, ("message", "subject", "idempotency_key", "trace"))
        body = {"kind": "request", "request": request, "assigned": event.assigned}
    elif isinstance(event, PrimaryCounsellorChanged):
        body = {"kind": "primary", "change": _fields(event.change), "visible_to": sorted(event.visible_to)}
    elif isinstance(event, SessionsEnded):
        body = {
            "kind": "sessions",
            "counsellor_id": event.counsellor_id,
            "client_id": event.client_id,
            "token_id": event.token_id,
        }
    elif isinstance(event, SettingsChanged):
        body = {"kind": "settings", "settings": _fields(event.settings)}
    else:
        body = {"kind": "stale", "since": _plain(event.since)}
    return json.dumps(body, separators=(",", ":"))


def _build(cls: type[Any], values: dict[str, Any]) -> Any:
    """Rebuild a model dataclass, turning strings back into its enums and datetimes."""
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if name not in hints:
            continue
        kwargs[name] = _typed(str(hints[name]), value)
    for f in dataclasses.fields(cls):  # fields left off the bus (message texts) read as None
        if (
            f.name not in kwargs
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ):
            kwargs[f.name] = None
    return cls(**kwargs)


_ENUMS = {
    name: getattr(model, name)
    for name in dir(model)
    if isinstance(getattr(model, name), type) and issubclass(getattr(model, name), enum.Enum)
}


def _typed(hint: str, value: Any) -> Any:
    if value is None:
        return None
    if "datetime" in hint:
        return datetime.fromisoformat(value)
    if hint.startswith("tuple"):
        return tuple(value)
    for name, cls in _ENUMS.items():
        if hint.startswith(name):
            return cls(value)
    return value


def decode(text: str) -> Event:
    body = json.loads(text)
    if body["kind"] == "counsellor":
        return CounsellorStateChanged(_build(model.Counsellor, body["counsellor"]))
    if body["kind"] == "request":
        return RequestChanged(_build(model.Request, body["request"]), bool(body["assigned"]))
    if body["kind"] == "stale":
        since = body.get("since")
        return StateMayBeStale(datetime.fromisoformat(since) if since else None)
    if body["kind"] == "sessions":
        return SessionsEnded(body["counsellor_id"], body["client_id"], body.get("token_id"))
    if body["kind"] == "settings":
        return SettingsChanged(_build(model.Settings, body["settings"]))
    change = _build(model.PrimaryCounsellorChange, body["change"])
    return PrimaryCounsellorChanged(change, frozenset(body["visible_to"]))
