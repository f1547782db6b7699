"""`python -m bench` (`make bench`): the benchmark of "Production backends and scale-out".

Runs on PostgreSQL + Redis with the API servers as real subprocesses (`python -m graph.main`) and
prints figures; it never fails on a missed target. It creates a fresh database
`stamm_bench_<random>` on the PostgreSQL server and drops it at the end.

Environment (both optional):

    BENCH_DATABASE_URL  a PostgreSQL server the benchmark may create databases on
                        (default postgresql+asyncpg://postgres@127.0.0.1:5432/test)
    BENCH_REDIS_URL     the Redis of the event bus. Unset: a private `redis-server` on a free
                        port when one is on PATH (pub/sub channels are server-wide, and another
                        Stamm on the same Redis would talk into the benchmark's channel), else
                        redis://127.0.0.1:6379/0

Options: `python -m bench --help`. The results go to stdout and, after a full run, between the
markers of docs/benchmarks.md (the analysis around them is kept). Server logs go to a
temporary folder printed at the start. `--profile DIR` records each server process with py-spy
(if installed in the venv) per phase, as collapsed stacks. Unless `--no-gc-log`, the servers start
with a `sitecustomize` (on PYTHONPATH, in that folder) whose gc.callbacks hook logs every garbage
collection that pauses them 20 ms or more; the tables count those pauses.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from redis import asyncio as aioredis

from bench import live, phases, report
from bench.database import BenchDatabase
from bench.redis_server import PrivateRedis
from bench.servers import ROOT, Profiler, Server, ServerEnv, api_server, floor_server
from bench.stats import cpu_count, cpu_model, load_average, ms, ram_gib, wait_until_quiet
from domain.model import Role
from graph.auth import TokenSigner

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
PHASES = (
    "overview", "intake", "scale", "redispatch", "fanout", "widgets", "idle", "widgets10k", "outage", "floor"
)  # fmt: skip
# `--only live` (BENCH=live make bench): the rows of issue 10 (live availability at scale).
GROUPS = {"live": ("fanout", "widgets", "idle", "widgets10k", "outage")}
INTAKE_ONLINE = 100
CAPACITY = 1000  # chat slots per online counsellor: above the API's 50, set in SQL so no run fills up


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=1000, help="measured submits per intake configuration"
    )
    parser.add_argument("--warmup", type=int, default=200, help="submits before each measured intake run")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent HTTP clients")
    parser.add_argument(
        "--sequential", type=int, default=200, help="submits one at a time (service time), 0 to skip"
    )
    parser.add_argument(
        "--paced",
        type=int,
        default=10,
        help="seconds of open-loop submits at half the measured 1-process throughput, 0 to skip",
    )
    parser.add_argument("--scale-requests", type=int, default=800, help="measured submits per scale run")
    parser.add_argument(
        "--pool", type=int, default=5000, help="counsellors in the database (and online, at most)"
    )
    parser.add_argument("--trials", type=int, default=100, help="re-dispatch trials")
    parser.add_argument("--subscribers", type=int, default=1000, help="fan-out websockets")
    parser.add_argument("--toggles", type=int, default=10, help="fan-out availability changes")
    parser.add_argument("--widgets", type=int, default=1000, help="anonymous widgets over two processes")
    parser.add_argument("--widget-toggles", type=int, default=6, help="availability changes to the widgets")
    parser.add_argument("--widgets-many", type=int, default=10_000, help="widgets on one process")
    parser.add_argument(
        "--idle-intakes", type=int, default=48, help="first chats with and without idle widgets"
    )
    parser.add_argument("--idle-concurrency", type=int, default=8, help="intakes at once in the idle run")
    parser.add_argument(
        "--idle-rounds", type=int, default=3, help="rounds of intakes without, then with idle widgets"
    )
    parser.add_argument("--outage-wait", type=float, default=30.0, help="seconds to wait for requestAssigned")
    parser.add_argument("--clients", type=int, default=100_000, help="clients in the overview")
    parser.add_argument("--overview-requests", type=int, default=200, help="requests per overview viewer")
    parser.add_argument(
        "--only", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}"
    )
    parser.add_argument(
        "--profile", type=Path, help="record py-spy collapsed stacks per phase into this folder"
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=10.0, help="seconds to wait for an idle machine before each phase"
    )
    parser.add_argument(
        "--no-gc-log", action="store_true", help="do not log the servers' garbage-collection pauses"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--keep-db", action="store_true", help="keep the database (for a look afterwards)")
    return parser.parse_args()


async def _machine(db: BenchDatabase, redis_url: str) -> report.Machine:
    client = aioredis.Redis.from_url(redis_url)
    try:
        info = await client.info("server")
    finally:
        await client.aclose()
    return report.Machine(
        cpus=cpu_count(),
        cpu_model=cpu_model(),
        ram_gib=ram_gib(),
        python=platform.python_version(),
        postgres=await db.server_version(),
        redis=str(info.get("redis_version", "?")),
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def _say(text: str) -> None:
    print(text, flush=True)


def _source() -> str:
    """Which code was measured: BENCH_SOURCE, else the git commit of the checkout (and whether dirty)."""
    import os
    import subprocess

    if label := os.environ.get("BENCH_SOURCE"):
        return label
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {commit}" + (" with uncommitted changes" if dirty else "")


class Quiet:
    """Before each phase, wait a little for other work on the machine to finish (shared machines)."""

    def __init__(self, limit: float, notes: list[str]) -> None:
        self._limit = limit
        self._notes = notes

    async def __call__(self, phase: str) -> None:
        if self._limit <= 0:
            return
        busy = await wait_until_quiet(self._limit)
        if busy >= 0.3:
            note = f"before {phase} the machine was still busy ({busy:.1f} cores) after {self._limit:.0f} s"
            self._notes.append(note.capitalize() + ".")
            _say(f"  ({note})")


async def _started(*servers: Server) -> None:
    await asyncio.gather(*(s.start() for s in servers))


async def _stopped(*servers: Server) -> None:
    await asyncio.gather(*(s.stop() for s in servers))


async def main(args: argparse.Namespace) -> report.Report:
    import os

    only = {p.strip() for p in args.only.split(",") if p.strip()}
    only |= {phase for group in only & GROUPS.keys() for phase in GROUPS[group]}
    # 10,000 websockets need as many descriptors here and in the server (which inherits the limit).
    open_files = live.raise_open_files(args.widgets_many + 2048)
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    log_dir = Path(tempfile.mkdtemp(prefix="stamm-bench-"))
    private_redis: PrivateRedis | None = None
    redis_url = os.environ.get("BENCH_REDIS_URL", "")
    if not redis_url and PrivateRedis.available():
        private_redis = PrivateRedis(log_dir)
        await private_redis.start()
        redis_url = private_redis.url
    redis_url = redis_url or DEFAULT_REDIS_URL
    db = BenchDatabase(database_url)
    secret = secrets.token_urlsafe(48)
    run = phases.Run(
        db, secret, TokenSigner(secret, 4 * 3600), redis_url, Profiler(args.profile), args.concurrency
    )
    if private_redis is not None and private_redis.process is not None:
        run.redis_pids = [private_redis.process.pid]
    servers: list[Server] = []
    try:
        started = time.monotonic()
        await db.create()
        _say(f"database {db.name}; redis {redis_url}; server logs in {log_dir}")
        result = report.Report(machine=await _machine(db, redis_url))
        quiet = Quiet(args.quiet_wait, result.notes)
        result.notes.append(f"Code measured: {_source()}. Load average at the start: {load_average()}.")
        result.settings = {
            "concurrency": str(args.concurrency),
            "requests per intake run": f"{args.requests} after {args.warmup} warm-up",
            "intake": f"chats, each from a new client without a primary (FIRST_REQUEST), {INTAKE_ONLINE} counsellors "
            f"online with {CAPACITY} chat slots each (set in SQL), loads reset before each run",
            "counsellors in the database": str(args.pool),
            "limits": open_files,
        }
        env = ServerEnv(db.url, redis_url, secret, log_dir, gc_log=not args.no_gc_log)
        run.log_dir = log_dir if env.gc_log else None
        a, b = api_server("api-1", env), api_server("api-2", env)
        servers += [a, b]
        run.admin_id = (await db.add_counsellors("admin", 1, role="ADMIN"))[0]
        run.pool = await db.add_counsellors("counsellor", args.pool, chat_capacity=CAPACITY)
        run.holder_id = (await db.add_counsellors("holder", 1))[0]
        run.toggled_id = (await db.add_counsellors("toggled", 1, chat_capacity=0))[0]
        if "overview" in only:
            _say(f"seeding {args.clients} clients with primaries ...")
            await db.add_clients(args.clients, primaries=run.pool[:100])
        await db.vacuum()
        _say(f"seeded in {time.monotonic() - started:.0f} s")

        await _started(a)
        if "overview" in only:
            await quiet("the client overview")
            for viewer, token in (
                ("admin", run.token(Role.ADMIN, run.admin_id)),
                ("counsellor", run.token(Role.COUNSELLOR, run.pool[0])),
            ):
                page = await phases.overview(run, a, viewer, token, args.overview_requests)
                result.overview.append(page)
                _say(
                    f"overview as {viewer}: p50 {ms(page.latencies.p50)} ms, p99 {ms(page.latencies.p99)} ms, "
                    f"{page.statements} statements, total {page.total_count}"
                )
        online = run.pool[:INTAKE_ONLINE]
        if "intake" in only:
            await quiet("intake at 1 process")
            found = await phases.intake(
                run, "GraphQL, 1 process", [a], floor=False, online=online, capacity=CAPACITY,
                requests=args.requests, warmup=args.warmup,
            )  # fmt: skip
            result.intake.append(found)
            _say(_line(found))
            if args.paced:
                rate = round(found.throughput / 2)
                found = await phases.intake(
                    run, f"GraphQL, 1 process, paced at {rate} req/s", [a], floor=False, online=online,
                    capacity=CAPACITY, requests=rate * args.paced, warmup=20, concurrency=1, rate=rate,
                )  # fmt: skip
                result.sequential.append(found)
                _say(_line(found))
            if args.sequential:
                found = await phases.intake(
                    run, "GraphQL, 1 process, 1 client", [a], floor=False, online=online, capacity=CAPACITY,
                    requests=args.sequential, warmup=20, concurrency=1,
                )  # fmt: skip
                result.sequential.append(found)
                _say(_line(found))
            statements, transactions = await phases.submit_statements(run)
            result.submit_statements, result.submit_transactions = statements, transactions
        if "scale" in only:
            for count in (10, min(5000, len(run.pool))):
                await quiet(f"the scale run with {count} online")
                found = await phases.intake(
                    run, f"GraphQL, 1 process, {count} online", [a], floor=False, online=run.pool[:count],
                    capacity=CAPACITY, requests=args.scale_requests, warmup=args.warmup,
                )  # fmt: skip
                result.scale.append((count, found))
                _say(_line(found))
        if only & {"intake", "redispatch", "fanout", "widgets", "idle", "outage"}:
            await _started(b)
            await _hearing(run, [a, b], result.notes)
        if "intake" in only:
            await quiet("intake at 2 processes")
            found = await phases.intake(
                run, "GraphQL, 2 processes", [a, b], floor=False, online=online, capacity=CAPACITY,
                requests=args.requests, warmup=args.warmup,
            )  # fmt: skip
            result.intake.append(found)
            _say(_line(found))
        if "redispatch" in only:
            await quiet("re-dispatch")
            redispatch = await phases.redispatch(run, a, b, args.trials)
            result.redispatch = redispatch
            _say(
                f"re-dispatch: p50 {ms(redispatch.from_send.p50)} ms, p99 {ms(redispatch.from_send.p99)} ms "
                f"({redispatch.trials} trials)"
            )
        if "fanout" in only:
            await quiet("fan-out")
            fanout = await phases.fanout(run, a, b, args.subscribers, args.toggles)
            result.fanout = fanout
            _say(
                f"fan-out: p50 {ms(fanout.delivery.p50)} ms, p99 {ms(fanout.delivery.p99)} ms, "
                f"missing {fanout.missing}, errors {fanout.errors}; redis p50 {ms(fanout.redis_rtt.p50)} ms"
            )
        await _live(run, args, only, result, quiet, a, b, private_redis)
        await _stopped(a, b)
        if "floor" in only:
            floor = floor_server("floor", env)
            await _started(floor)
            await quiet("the floor")
            try:
                found = await phases.intake(
                    run, "floor (Starlette JSON, no GraphQL), 1 process", [floor], floor=True, online=online,
                    capacity=CAPACITY, requests=args.requests, warmup=args.warmup,
                )  # fmt: skip
                result.floor = found
                _say(_line(found))
                if args.sequential:
                    found = await phases.intake(
                        run, "floor, 1 process, 1 client", [floor], floor=True, online=online, capacity=CAPACITY,
                        requests=args.sequential, warmup=20, concurrency=1,
                    )  # fmt: skip
                    result.sequential.append(found)
                    _say(_line(found))
            finally:
                await _stopped(floor)
    finally:
        await _stopped(*servers)
        if args.keep_db:
            _say(f"kept database {db.name}")
            if db.pool is not None:
                await db.pool.close()
        else:
            await db.drop()
        if private_redis is not None:
            await private_redis.stop()
    result.notes.append(
        f"Whole run: {time.monotonic() - started:.0f} s; load average at the end: {load_average()}."
    )
    return result


async def _live(
    run: phases.Run,
    args: argparse.Namespace,
    only: set[str],
    result: report.Report,
    quiet: Quiet,
    a: Server,
    b: Server,
    private_redis: PrivateRedis | None,
) -> None:
    """The rows of issue 10 (live availability at scale); the Redis outage last, since it restarts Redis."""
    if "widgets" in only:
        await quiet("the widget fan-out")
        found = await live.widget_fanout(
            run, [a, b], args.widgets, args.widget_toggles, f"{args.widgets:,} widgets, 2 processes", 30.0
        )
        result.widgets = found
        _say(_fanout_line(found))
    if "idle" in only:
        await quiet("the idle widgets")
        idle = await live.idle_widgets(
            run, [a, b], args.widgets, args.idle_intakes, args.idle_concurrency, args.idle_rounds
        )
        result.idle = idle
        for r in (idle.without, idle.with_widgets):
            if r is not None:
                _say(_line(r))
    if "widgets10k" in only:
        await quiet("the widget fan-out on one process")
        found = await live.widget_fanout(
            run, [a], args.widgets_many, 1, f"{args.widgets_many:,} widgets, 1 process", 90.0
        )
        result.widgets_many = found
        _say(_fanout_line(found))
    if result.fanout is None and only & {"widgets", "widgets10k"}:
        result.redis_rtt = await phases.redis_round_trip(run.redis_url, 200)
    if "outage" in only:
        await quiet("the Redis outage")
        outage = await live.redis_outage(run, private_redis, a, b, args.outage_wait)
        result.outage = outage
        _say(f"redis outage: requestAssigned after Redis returned: {outage.seconds} s ({outage.note})")


def _fanout_line(found: live.WidgetFanout) -> str:
    return (
        f"{found.label}: p50 {ms(found.delivery.p50)} ms, p99 {ms(found.delivery.p99)} ms, missing "
        f"{found.missing}, errors {found.errors} {found.first_error}; opened in {found.connect_seconds:.0f} s, "
        f"{found.rss_per_widget / 1024:.1f} KiB per widget"
    )


async def _hearing(run: phases.Run, servers: list[Server], notes: list[str]) -> None:
    """Restart any process that does not hear the event bus (up to 5 times), and say so."""
    restarts = 0
    for _ in range(5):
        deaf = await phases.deaf_servers(run, servers)
        if not deaf:
            break
        for server in deaf:
            _say(f"  {server.name} hears no bus events; restarting it")
            restarts += 1
            await server.stop()
            await server.start()
    else:
        notes.append(
            "A process stayed deaf to the event bus after 5 restarts; fan-out figures are incomplete."
        )
    if restarts:
        notes.append(
            f"{restarts} API process start(s) came up deaf to the event bus (no local subscriber got any "
            "event) and were restarted before the re-dispatch and fan-out runs."
        )


def _line(r: phases.LoadResult) -> str:
    return (
        f"{r.label}: {r.throughput:.0f} req/s, p50 {ms(r.latencies.p50)} ms, p99 {ms(r.latencies.p99)} ms, "
        f"{phases.status_summary(r.statuses)}, errors {r.errors} {r.first_error}"
    )


def cli() -> None:
    args = _arguments()
    found = asyncio.run(main(args))
    section = report.markdown(found)
    print()
    print(section)
    full = set(args.only.split(",")) >= set(PHASES)
    if not args.no_write and full:
        doc = ROOT / "docs" / "benchmarks.md"
        report.write(doc, section)
        print(f"\nwrote {doc}")
    elif not args.no_write:
        print("\n(only part of the benchmark ran: docs/benchmarks.md left as it was)", file=sys.stderr)


if __name__ == "__main__":
    cli()
