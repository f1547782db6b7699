"""A long fuzzing run (`make fuzz`): `python -m tests.security.fuzz_large [--examples N] [--seed S]`.

Starts the e2e server in-process on a temporary SQLite database (generous abuse limits, so that
generated sign-ins and registrations are not throttled into sameness), sends N generated operations
(positive and negative, as anonymous, client, counsellor and admin; see fuzzing.py), prints a
summary with one example per problem found, and exits 1 when anything was unclean.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from tests.security.fuzzing import fuzz, viewer_tokens
from tests.security.support import Servers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.security.fuzz_large", description=__doc__)
    parser.add_argument("--examples", type=int, default=2_000, help="operations to send (default 2000)")
    parser.add_argument("--seed", type=int, default=None, help="repeat an earlier run (default: random)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)

    with tempfile.TemporaryDirectory(prefix="stamm-fuzz-") as folder:
        servers = Servers(Path(folder))
        live = servers.start()
        try:
            print(f"fuzzing {live.graphql_url} with {args.examples} operations, seed {seed}", flush=True)
            started = time.monotonic()
            report = fuzz(
                live.graphql_url, viewer_tokens(live.graphql_url), examples=args.examples, seed=seed
            )
            elapsed = time.monotonic() - started
        finally:
            servers.stop_all()

    print(report.summary())
    print(f"{elapsed:.1f} s; repeat with --seed {seed}")
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
