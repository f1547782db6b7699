"""The committed schema.graphql is the served schema; regenerate it with `make schema`."""

from pathlib import Path

from graph.export_schema import sdl

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_matches_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == sdl(), "schema.graphql drifted from the code: run `make schema` and commit it"
