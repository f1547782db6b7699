"""`GET /exports/monitoring.csv?from=&to=[&byCounsellor=true]`: the monitoring statistics as CSV for
admins (bearer token in the Authorization header), cells safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from domain.errors import BadUserInput, DomainError, Forbidden, ServiceUnavailable, Unauthenticated
from domain.use_cases.monitoring import MonitoringReport, monitoring_statistics
from graph.context import AppState, Context

# Spreadsheets run a cell starting with one of these as a formula (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
STATUS: dict[type[DomainError], int] = {
    Unauthenticated: 401,
    Forbidden: 403,
    BadUserInput: 400,
    ServiceUnavailable: 503,
}


def safe_cell(value: object) -> str:
    """The cell's text, with a leading apostrophe when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def parse_moment(value: str | None, name: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or date-time (UTC when it names no offset)."""
    if not value:
        raise BadUserInput(f"{name} is required: an ISO 8601 date such as 2026-01-01.", field=name)
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadUserInput(
            f"{name} is not an ISO 8601 date or date-time such as 2026-01-01 or 2026-01-01T00:00:00Z.",
            field=name,
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def monitoring_csv(report: MonitoringReport, by_counsellor: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = ["month", "channel", "category", "topic"]
    writer.writerow([*header, *(["counsellor"] if by_counsellor else []), "contacts", "suppressed"])
    topics = report.catalogue.topics
    for cell in report.cells:
        topic = topics[cell.topic_id]
        category = topics.get(topic.parent_id or 0)
        row: list[object] = [cell.month, cell.channel.value, category.name if category else "", topic.name]
        if by_counsellor:
            counsellor = report.counsellors.get(cell.counsellor_id or 0)
            row.append(counsellor.display_name if counsellor else "")
        row += ["" if cell.contacts is None else cell.contacts, "true" if cell.suppressed else "false"]
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def monitoring_export(state: AppState) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of the app serving `state`."""

    async def endpoint(request: Request) -> Response:
        try:
            viewer = await Context(state, request).viewer()
            start = parse_moment(request.query_params.get("from"), "from")
            end = parse_moment(request.query_params.get("to"), "to")
            by_counsellor = request.query_params.get("byCounsellor", "").lower() in ("1", "true", "yes")
            report = await monitoring_statistics(state.deps, viewer, start, end, by_counsellor)
        except DomainError as error:
            status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 500)
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return PlainTextResponse(error.message + "\n", status_code=status, headers=headers)
        last = report.end - timedelta(days=1)
        name = f"monitoring-{report.start:%Y-%m}-to-{last:%Y-%m}.csv"
        return Response(
            monitoring_csv(report, by_counsellor),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    return endpoint
