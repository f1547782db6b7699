"""The results as Markdown tables: printed, and written between markers into docs/benchmarks.md."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from bench.live import IdleResult, OutageResult, WidgetFanout
from bench.phases import OVERVIEW, FanoutResult, LoadResult, OverviewResult, RedispatchResult, status_summary
from bench.stats import Latencies, ms

START = "<!-- bench:results:start (written by `make bench`; edit outside the markers) -->"
END = "<!-- bench:results:end -->"


@dataclass
class Machine:
    cpus: int
    cpu_model: str
    ram_gib: float
    python: str
    postgres: str
    redis: str
    date: str


@dataclass
class Report:
    machine: Machine
    settings: dict[str, str] = field(default_factory=dict)
    intake: list[LoadResult] = field(default_factory=list)
    floor: LoadResult | None = None
    sequential: list[LoadResult] = field(default_factory=list)  # one client at a time: service time
    submit_statements: list[str] = field(default_factory=list)
    submit_transactions: int = 0
    redispatch: RedispatchResult | None = None
    fanout: FanoutResult | None = None
    overview: list[OverviewResult] = field(default_factory=list)
    scale: list[tuple[int, LoadResult]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    widgets: WidgetFanout | None = None  # issue 10 rows
    widgets_many: WidgetFanout | None = None
    idle: IdleResult | None = None
    outage: OutageResult | None = None
    redis_rtt: Latencies | None = None  # when the staff fan-out (which measures it) did not run


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return "not measured"
    return "met" if ok else "**missed**"


def _lt(value: float, limit: float) -> bool | None:
    return None if math.isnan(value) else value < limit


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _load_row(r: LoadResult, floor: LoadResult | None) -> list[str]:
    ratio = f"{r.throughput / floor.throughput:.2f}" if floor and floor.throughput and r is not floor else ""
    return [
        r.label,
        str(r.processes),
        str(r.requests),
        f"{r.throughput:.0f}",
        ms(r.latencies.p50),
        ms(r.latencies.p99),
        ms(r.latencies.max),
        ratio,
        str(r.errors),
        status_summary(r.statuses),
        f"{r.api_cpu_ms:.1f}",
        f"{r.lock_waiters:.1f} / {r.in_transaction:.1f}",
        gc_summary(r.gc),
        r.cpu,
    ]


def gc_summary(pauses: list[float]) -> str:
    """'n, max ms' of the GC pauses >= 20 ms the servers logged (--gc-log)."""
    return f"{len(pauses)}, max {max(pauses):.0f}" if pauses else "0"


def _lat(label: str, lat: Latencies) -> list[str]:
    return [label, str(len(lat.samples)), ms(lat.p50), ms(lat.p99), ms(lat.max)]


def targets(report: Report) -> list[list[str]]:
    rows: list[list[str]] = []
    one = next((r for r in report.intake if r.processes == 1), None)
    if one and report.floor and report.floor.throughput:
        ratio = one.throughput / report.floor.throughput
        rows.append(
            ["GraphQL intake throughput >= 0.6 x floor (1 process)", f"{ratio:.2f}", _verdict(ratio >= 0.6)]
        )
    for r in report.intake:
        rows.append(
            [f"intake p99 < 25 ms ({r.label})", ms(r.latencies.p99), _verdict(_lt(r.latencies.p99, 0.025))]
        )
    if report.redispatch:
        p99 = report.redispatch.from_send.p99
        rows.append(
            [
                "re-dispatch p99 < 50 ms (closeRequest sent -> ASSIGNED received)",
                ms(p99),
                _verdict(_lt(p99, 0.05)),
            ]
        )
    if report.fanout:
        p99 = report.fanout.delivery.p99
        rows.append(
            [
                f"fan-out p99 < 100 ms ({report.fanout.subscribers:,} subscribers)",
                ms(p99),
                _verdict(_lt(p99, 0.1)),
            ]
        )
    for o in report.overview:
        rows.append(
            [
                f"client overview p50 < 15 ms ({o.viewer})",
                ms(o.latencies.p50),
                _verdict(_lt(o.latencies.p50, 0.015)),
            ]
        )
        rows.append(
            [f"client overview <= 3 statements ({o.viewer})", str(o.statements), _verdict(o.statements <= 3)]
        )
    if len(report.scale) == 2:
        (n_few, few), (n_many, many) = report.scale
        p50 = many.latencies.p50 / few.latencies.p50
        p99 = many.latencies.p99 / few.latencies.p99
        rows.append(
            [
                f"scale of the choice: {n_many:,} / {n_few:,} online, p50 and p99 < 1.3",
                f"{p50:.2f} / {p99:.2f}",
                _verdict(p50 < 1.3 and p99 < 1.3),
            ]
        )
    return rows


KIB = 1024


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def _incomplete(w: WidgetFanout) -> str:
    """A widget run that cannot count as measured: what went missing, and the p99 of the rest."""
    return (
        f"incomplete: of {w.widgets:,} widgets {w.not_opened:,} not opened in time, {w.ended:,} ended by an "
        f"error, {w.missing:,} deliveries missing within {w.timeout:.0f} s; p99 of the rest {ms(w.delivery.p99)}"
    )


def live_targets(report: Report) -> list[list[str]]:
    """The rows of issue 10, its targets beside them (a row not measured says so)."""
    rows: list[list[str]] = []
    rtt = report.fanout.redis_rtt if report.fanout else report.redis_rtt
    redis = f" (raw Redis publish-to-receive p99: {ms(rtt.p99)} ms)" if rtt and rtt.samples else ""
    w = report.widgets
    complete = w is not None and not (w.missing or w.not_opened or w.ended)
    p99 = w.delivery.p99 if w and complete else math.nan
    shown = ms(w.delivery.p99) if w and complete else (_incomplete(w) if w else "")
    rows.append(
        [
            f"one counsellor goes online: delivery to {w.widgets if w else 1000:,} anonymous `availabilityChanged` "
            f"subscribers, half on each of 2 processes, p99 (ms){redis}",
            shown,
            "< 100",
            _verdict((_lt(p99, 0.1) if complete else False) if w else None),
        ]
    )
    f = report.fanout
    p99 = f.delivery.p99 if f and not (f.missing or f.ended) else math.nan
    rows.append(
        [
            f"same to {f.subscribers if f else 1000:,} staff `counsellorAvailabilityChanged` subscribers, p99 (ms)",
            (
                ms(f.delivery.p99)
                if not (f.missing or f.ended)
                else f"incomplete: {f.ended} of {f.subscribers:,} subscriptions ended by an error, "
                f"{f.missing} deliveries missing within 10 s; p99 of the rest {ms(f.delivery.p99)}"
            )
            if f
            else "",
            "< 100",
            _verdict((_lt(p99, 0.1) if not (f.missing or f.ended) else False) if f else None),
        ]
    )
    idle = report.idle
    with_w, without = (idle.with_widgets, idle.without) if idle else (None, None)
    if idle and with_w and without:
        p50 = _ratio(with_w.latencies.p50, without.latencies.p50)
        cpu = _ratio(idle.cpu_with, idle.cpu_without)
        rows.append(
            [
                f"intake p50 (first chats, {idle.concurrency} at a time) with {idle.widgets:,} idle widgets open / with none",
                f"{p50:.2f}x ({ms(with_w.latencies.p50)} ms vs {ms(without.latencies.p50)} ms)",
                "<= 1.2x",
                _verdict(None if math.isnan(p50) else p50 <= 1.2),
            ]
        )
        rows.append(
            [
                f"server CPU for {idle.intakes} intakes with {idle.widgets:,} idle widgets / with none",
                f"{cpu:.2f}x ({idle.cpu_with:.2f} s vs {idle.cpu_without:.2f} s)",
                "<= 1.2x",
                _verdict(None if math.isnan(cpu) else cpu <= 1.2),
            ]
        )
    else:
        rows.append(["intake p50 with 1,000 idle widgets / with none", "", "<= 1.2x", _verdict(None)])
        rows.append(
            ["server CPU for 48 intakes with 1,000 idle widgets / with none", "", "<= 1.2x", _verdict(None)]
        )
    many = report.widgets_many
    # The 10,000-widget run dwarfs one-off allocations, but only counts when every widget opened.
    if many and not (many.not_opened or many.ended):
        memory, source = many.rss_per_widget, f"{many.widgets:,} widgets on 1 process"
    elif idle:
        memory, source = idle.rss_per_widget, f"{idle.widgets:,} idle widgets over 2 processes"
    else:
        memory, source = math.nan, ""
    rows.append(
        [
            f"memory per open widget subscription (server RSS growth / widgets; {source})",
            "" if math.isnan(memory) else f"{memory / KIB:.1f} KiB",
            "<= 20 KiB",
            _verdict(None if math.isnan(memory) else memory <= 20 * KIB),
        ]
    )
    o = report.outage
    if o and o.measured:
        shown = f"{o.seconds:.2f} s" if o.seconds is not None else f"never (not within {o.wait:.0f} s)"
        ok: bool | None = o.seconds is not None and o.seconds < 5
    else:
        shown, ok = (o.note if o else ""), None
    rows.append(
        [
            "a chat assigned while Redis is down reaches the counsellor's `requestAssigned` after Redis returns",
            shown,
            "within 5 s",
            _verdict(ok),
        ]
    )
    complete = many is not None and not (many.missing or many.not_opened or many.ended)
    p99 = many.delivery.p99 if many and complete else math.nan
    shown = ms(many.delivery.p99) if many and complete else (_incomplete(many) if many else "")
    rows.append(
        [
            f"{many.widgets if many else 10000:,} widgets on one process: fan-out p99 (ms)",
            shown,
            "< 1,000",
            _verdict((_lt(p99, 1.0) if complete else False) if many else None),
        ]
    )
    if rtt and rtt.samples:
        rows.append(["raw Redis publish-to-receive round trip, p99 (ms), beside them", ms(rtt.p99), "", ""])
    return rows


def live_markdown(report: Report) -> list[str]:
    out = [
        "### Live availability at scale (issue 10)",
        "",
        *_table(["measured (same run, same machine)", "now", "target", "verdict"], live_targets(report)),
        "",
    ]
    rows = []
    for w in (report.widgets, report.widgets_many):
        if w is None:
            continue
        rows.append(_lat(f"{w.label}: all widgets", w.delivery))
        if len(w.by_server) > 1:
            rows += [_lat(f"{w.label}: widgets on {name}", lat) for name, lat in w.by_server.items()]
        rows.append(_lat(f"{w.label}: slowest widget of each change", w.last))
    if rows:
        out += [
            "Widget fan-out: anonymous websockets subscribed to `availabilityChanged { chatAvailable }`; nobody is "
            "free at first, then an admin sets one counsellor (one chat slot) ONLINE and OFFLINE via the first "
            "process, so every change flips every widget's answer. Latency from sending the mutation to receipt, "
            "on the benchmark's monotonic clock.",
            "",
            *_table(["delivery", "samples", "p50", "p99", "max"], rows),
            "",
        ]
        for w in (report.widgets, report.widgets_many):
            if w is not None:
                out.append(
                    f"- {w.label}: {w.toggles} changes; opening and subscribing took {w.connect_seconds:.1f} s; "
                    f"not opened within the time given to opening: {w.not_opened}; ended by an error: {w.ended}; "
                    f"server RSS growth {w.rss_per_widget / KIB:.1f} KiB per widget; not delivered within "
                    f"{w.timeout:.0f} s: {w.missing}; errors: {w.errors}"
                    f"{' (' + w.first_error + ')' if w.first_error else ''}; CPU during the changes: {w.cpu}."
                )
        out.append("")
    idle = report.idle
    if idle and idle.without and idle.with_widgets:
        out += [
            f"Idle widgets: {idle.rounds} rounds of {idle.intakes} first chats ({idle.concurrency} at a time, "
            f"round-robin over both processes) without widgets, then with {idle.widgets:,} idle widgets open "
            f"(half on each process; opened in {idle.connect_seconds:.1f} s, {idle.widget_errors} errors; "
            f"server RSS growth {idle.rss_per_widget / KIB:.1f} KiB per widget). Latencies over all rounds; "
            f"server CPU (both API processes, from /proc) per round of {idle.intakes}, on average.",
            "",
            *_table(
                ["run", "requests", "p50", "p99", "max", "errors", "outcome", "server CPU s", "CPU (cores)"],
                [
                    [
                        r.label,
                        str(r.requests),
                        ms(r.latencies.p50),
                        ms(r.latencies.p99),
                        ms(r.latencies.max),
                        str(r.errors),
                        status_summary(r.statuses),
                        f"{cpu:.2f}",
                        r.cpu,
                    ]
                    for r, cpu in ((idle.without, idle.cpu_without), (idle.with_widgets, idle.cpu_with))
                ],
            ),
            "",
        ]
    o = report.outage
    if o is not None:
        out += [
            "Redis outage: a counsellor (5 chat slots, the only one online) follows `requestAssigned` on the second "
            "process; the private redis-server is stopped, the first process reports its bus unready, a client's "
            f"first chat goes to the first process (answered {o.submitted_status or 'n/a'}), and after 3 s "
            "Redis starts again on the same port. Time from its start to the assignment's arrival"
            + (
                f"; every process was ready again after {o.ready_again:.1f} s."
                if o.ready_again is not None
                else "."
            )
            + (f" {o.note}" if o.note else ""),
            "",
        ]
    return out


def markdown(report: Report) -> str:
    m = report.machine
    out: list[str] = [
        START,
        "",
        f"Measured {m.date} on {m.cpus} CPUs ({m.cpu_model}), {m.ram_gib:.1f} GiB RAM; "
        f"Python {m.python}, PostgreSQL {m.postgres}, Redis {m.redis}. "
        "The benchmark client, the API processes, PostgreSQL and Redis share these CPUs.",
        "",
        "Settings: " + ", ".join(f"{k} {v}" for k, v in report.settings.items()) + ".",
        "",
        *live_markdown(report),
        "### Targets",
        "",
        *_table(["target", "measured", "verdict"], targets(report)),
        "",
        "### 1. Intake: submitRequest over HTTP",
        "",
        "Latencies in ms. `vs floor` is throughput divided by the floor's. `API CPU ms/req`: CPU time of "
        "the server processes per request. `lock waits / in txn`: database sessions waiting for a lock / "
        "inside a transaction, on average (pg_stat_activity every 50 ms). `GC pauses`: garbage "
        "collections of the server processes that stopped them for 20 ms or more (count, longest), "
        "logged by a gc.callbacks hook the benchmark installs (--no-gc-log to leave it out). CPU: cores used on average "
        "during the measured run (api = the server processes, postgres = all its backends, other = "
        "everything else on the machine).",
        "",
    ]
    header = [
        "configuration",
        "processes",
        "requests",
        "req/s",
        "p50",
        "p99",
        "max",
        "vs floor",
        "errors",
        "outcome",
        "API CPU ms/req",
        "lock waits / in txn",
        "GC pauses >= 20 ms",
        "CPU (cores)",
    ]
    rows = [_load_row(r, report.floor) for r in report.intake]
    if report.floor:
        rows.append(_load_row(report.floor, None))
    rows += [_load_row(r, None) for r in report.sequential]
    out += _table(header, rows)
    if report.sequential:
        out += [
            "",
            "With 32 clients in a closed loop, latency is queueing: by Little's law p50 is about "
            "32 / throughput. The `paced` row sends at a fixed rate of half the measured 1-process "
            "throughput (open loop, whatever is pending); the `1 client` rows submit one request at "
            "a time, the service time without queueing.",
        ]
    if report.submit_statements:
        out += [
            "",
            f"One submitRequest (a first request) runs {len(report.submit_statements)} SQL statements in "
            f"{report.submit_transactions} transactions in process (counted with a before_cursor_execute "
            "listener; each transaction also costs the pool's one-round-trip ping, BEGIN and COMMIT/ROLLBACK):",
            "",
            *[f"    {s}" for s in report.submit_statements],
        ]
    if report.scale:
        out += [
            "",
            "### 5. Scale of the choice: intake at 1 process with few and many counsellors online",
            "",
        ]
        rows = [[str(n), *_load_row(r, None)[2:7], *_load_row(r, None)[8:]] for n, r in report.scale]
        header = ["online", "requests", "req/s", "p50", "p99", "max", "errors", "outcome", "API CPU ms/req"]
        out += _table([*header, "lock waits / in txn", "GC pauses >= 20 ms", "CPU (cores)"], rows)
        if len(report.scale) == 2:
            (n_few, few), (n_many, many) = report.scale
            out += [
                "",
                f"Ratio {n_many:,} / {n_few:,} online: p50 {many.latencies.p50 / few.latencies.p50:.2f}, "
                f"p99 {many.latencies.p99 / few.latencies.p99:.2f}.",
            ]
    if report.redispatch:
        r = report.redispatch
        out += [
            "",
            "### 2. Re-dispatch latency",
            "",
            f"{r.trials} trials. Observed through a `requestUpdated(id)` subscription (websocket, admin) on the "
            "other process than the one closeRequest went to, so every event crossed Redis.",
            "",
            *_table(
                ["from", "trials", "p50", "p99", "max"],
                [
                    _lat("closeRequest sent -> ASSIGNED received (target)", r.from_send),
                    _lat(
                        "CLOSED event received -> ASSIGNED event received (~ commit to commit)",
                        r.from_closed_event,
                    ),
                    _lat("closeRequest response received -> ASSIGNED received", r.from_response),
                ],
            ),
        ]
        if r.anomalies:
            out += ["", "Anomalies: " + "; ".join(r.anomalies[:10])]
    if report.fanout:
        f = report.fanout
        rows = [_lat("all subscribers", f.delivery)]
        rows += [_lat(f"subscribers on {name}", lat) for name, lat in f.by_process.items()]
        rows += [
            _lat("last subscriber of each toggle", f.last_delivery),
            _lat("setOnlineStatus response", f.mutation),
            _lat("raw Redis PUBLISH -> receive (redis.asyncio)", f.redis_rtt),
        ]
        out += [
            "",
            "### 3. Fan-out of one availability change",
            "",
            f"{f.subscribers} websockets (graphql-transport-ws, `counsellorAvailabilityChanged(counsellorId)`, "
            f"each a different counsellor's token), half on each process; {f.toggles} toggles of setOnlineStatus "
            f"by an admin on the first process. Latency from sending the mutation to receipt, on the benchmark's "
            f"monotonic clock. Opening and subscribing all sockets took {f.connect_seconds:.1f} s. "
            f"Subscriptions ended by an error: {f.ended} (their later toggles are not counted); missing "
            f"deliveries to live subscriptions: {f.missing}; errors: {f.errors} ({f.initial_errors} while subscribing)"
            f"{': ' + f.first_error if f.first_error else ''}. "
            f"CPU during the toggles: {f.cpu}. Server GC pauses >= 20 ms during the toggles: {gc_summary(f.gc)}.",
            "",
            *_table(["delivery", "samples", "p50", "p99", "max"], rows),
        ]
    if report.overview:
        out += [
            "",
            "### 4. Client overview: first page of 50",
            "",
            f"`{OVERVIEW}`, "
            "sequential requests over HTTP to one process. Statements counted in process (same query, same "
            "database) with a before_cursor_execute listener; pg_stat_statements is not loaded on this server.",
            "",
            *_table(
                [
                    "viewer",
                    "totalCount",
                    "rows",
                    "requests",
                    "p50",
                    "p99",
                    "statements",
                    "transactions",
                    "errors",
                ],
                [
                    [
                        o.viewer,
                        str(o.total_count),
                        str(o.rows),
                        str(len(o.latencies.samples)),
                        ms(o.latencies.p50),
                        ms(o.latencies.p99),
                        str(o.statements),
                        str(o.transactions),
                        str(o.errors),
                    ]
                    for o in report.overview
                ],
            ),
            "",
        ]
        for o in report.overview:
            out += [f"Statements as {o.viewer}:", "", *[f"    {s}" for s in o.statement_list], ""]
    if report.notes:
        out += ["", *[f"- {n}" for n in report.notes]]
    out += ["", END]
    return "\n".join(out)


def write(doc: Path, section: str) -> None:
    """Replace the section between the markers; keep everything else (the analysis)."""
    if doc.exists():
        text = doc.read_text()
        if START in text and END in text:
            before, rest = text.split(START, 1)
            after = rest.split(END, 1)[1]
            doc.write_text(before + section + after)
            return
        doc.write_text(text.rstrip() + "\n\n" + section + "\n")
        return
    doc.write_text(
        "# Benchmarks\n\nProduction backends and scale-out: PostgreSQL + Redis, API servers as real "
        "processes. Run with `make bench` (see `bench/__main__.py`).\n\n## Results\n\n" + section + "\n"
    )
