"""The results as Markdown tables: printed, and written between markers into docs/benchmarks.md."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from bench.phases import FanoutResult, LoadResult, OverviewResult, RedispatchResult, status_summary
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
                f"client overview p50 < 20 ms ({o.viewer})",
                ms(o.latencies.p50),
                _verdict(_lt(o.latencies.p50, 0.02)),
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
            "listener; each transaction also costs a pool pre-ping, BEGIN and COMMIT/ROLLBACK):",
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
            "`clients(first: 50) { totalCount edges { node { displayName clientCode primaryCounsellor { displayName } } } }`, "
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
