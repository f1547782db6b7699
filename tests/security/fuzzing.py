"""Schema-driven fuzzing of /graphql with schemathesis, shared by test_fuzz.py (a short, repeatable
run in the suite) and fuzz_large.py (`make fuzz`: a long, random one).

schemathesis reads the schema by introspection and generates operations of every query and mutation
(subscriptions are not generated over HTTP), valid ones and, in negative mode, ones the schema must
refuse. Each is sent as one of four viewers. Every answer must be clean: no 5xx, no traceback, JSON
with each error carrying an `extensions.code`, and none of them INTERNAL_SERVER_ERROR (an
unexpected failure: exactly what fuzzing looks for).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.e2e.support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, unique_email

VIEWERS = ("anonymous", "client", "counsellor", "admin")
# Sent as a viewer, logout would revoke that viewer's token for the rest of the run.
EXCLUDED = r"^Mutation\.logout$"


@dataclass(frozen=True)
class Finding:
    operation: str
    viewer: str
    mode: str
    problem: str
    query: str
    response: str

    def __str__(self) -> str:
        return (
            f"{self.operation} as {self.viewer} ({self.mode}): {self.problem}\n"
            f"  query: {self.query[:600]}\n  answer: {self.response[:600]}"
        )


@dataclass
class FuzzReport:
    calls: int = 0
    with_data: int = 0
    operations: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)

    def unique_findings(self) -> list[Finding]:
        """One finding per operation and problem."""
        seen: dict[tuple[str, str], Finding] = {}
        for finding in self.findings:
            seen.setdefault((finding.operation, finding.problem), finding)
        return list(seen.values())

    def summary(self) -> str:
        lines = [
            f"{self.calls} operations sent, {len(self.operations)} distinct fields, "
            f"{self.with_data} answered with data, {len(self.findings)} problem answers",
            "error codes: " + ", ".join(f"{code} {n}" for code, n in self.codes.most_common()),
        ]
        lines += [str(finding) for finding in self.unique_findings()]
        return "\n".join(lines)


def problems(status: int, content_type: str, body: str) -> list[str]:
    """What is wrong with one answer; [] when it is clean."""
    found = []
    if status >= 500:
        found.append(f"HTTP {status}")
    if "Traceback" in body or 'File "/' in body:
        found.append("a traceback in the body")
    if not content_type.startswith("application/json"):
        if status == 200:
            found.append(f"200 with {content_type or 'no content type'}")
        return found
    try:
        payload = json.loads(body)
    except ValueError:
        return [*found, "a body that is not JSON"]
    if not isinstance(payload, dict):
        return [*found, "a JSON body that is not an object"]
    for error in payload.get("errors") or []:
        code = (error.get("extensions") or {}).get("code") if isinstance(error, dict) else None
        if not code:
            found.append(f"an error without extensions.code: {str(error.get('message'))[:80]!r}")
        elif code == "INTERNAL_SERVER_ERROR":
            found.append(f"INTERNAL_SERVER_ERROR: {str(error.get('message'))[:80]!r}")
    return found


def _call(client: httpx.Client, url: str, token: str | None, query: str, **variables: Any) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = client.post(url, json={"query": query, "variables": variables}, headers=headers)
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def viewer_tokens(graphql_url: str) -> dict[str, str | None]:
    """A token per viewer: the server's admin (the e2e one), a new counsellor and a new client.

    The counsellor takes mail and the client has written, so some generated operations find data.
    """
    with httpx.Client(timeout=30, verify=False, trust_env=False) as client:
        login = "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
        admin = _call(client, graphql_url, None, login, e=ADMIN_EMAIL, p=ADMIN_PASSWORD)["login"]["token"]
        email = unique_email("fuzz-counsellor")
        _call(
            client,
            graphql_url,
            admin,
            "mutation ($input: CreateCounsellorInput!) { createCounsellor(input: $input) { id } }",
            input={
                "email": email,
                "password": PASSWORD,
                "displayName": "Fuzz",
                "mailAvailability": "UNLIMITED",
            },
        )
        counsellor = _call(client, graphql_url, None, login, e=email, p=PASSWORD)["login"]["token"]
        registered = _call(
            client,
            graphql_url,
            None,
            "mutation ($input: RegisterClientInput!) { registerClient(input: $input) { token } }",
            input={"displayName": "Fuzz", "email": unique_email("fuzz-client"), "password": PASSWORD},
        )
        client_token = registered["registerClient"]["token"]
        _call(
            client,
            graphql_url,
            client_token,
            "mutation ($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }",
            input={"channel": "MAIL", "message": "Hallo"},
        )
    return {"anonymous": None, "client": client_token, "counsellor": counsellor, "admin": admin}


# A file cannot travel inside a generated document (only the multipart request spec carries one):
# generated operations name a string where an Upload goes, which the server must refuse cleanly.
schemathesis.graphql.scalar("Upload", st.just(schemathesis.graphql.nodes.String("not-a-file")))


def fuzz(
    graphql_url: str,
    tokens: dict[str, str | None],
    *,
    examples: int,
    seed: int | None = None,
    derandomize: bool = False,
) -> FuzzReport:
    """Send `examples` generated operations; the report of what came back (never raises on a finding)."""
    schema = schemathesis.graphql.from_url(graphql_url).exclude(name_regex=EXCLUDED)
    cases = st.one_of(
        schema.as_strategy(generation_mode=GenerationMode.POSITIVE),
        schema.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    session = requests.Session()
    session.trust_env = False
    report = FuzzReport()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        phases=[Phase.generate],  # findings are collected, not shrunk: one run shows them all
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, viewer=st.sampled_from(VIEWERS))
    def run(case: Any, viewer: str) -> None:
        token = tokens[viewer]
        headers = {"Authorization": f"Bearer {token}"} if token else None
        response = case.call(session=session, headers=headers, timeout=30)
        body = response.content.decode("utf-8", errors="replace")
        content_type = next(iter(response.headers.get("content-type") or [""]), "")
        report.calls += 1
        report.operations[case.operation.label] += 1
        found = problems(response.status_code, content_type, body)
        if content_type.startswith("application/json") and not found:
            payload = json.loads(body)
            report.codes.update(e["extensions"]["code"] for e in payload.get("errors") or [])
            report.with_data += not payload.get("errors")
        mode = case.meta.generation.mode.value if case.meta is not None else "?"
        query = case.body if isinstance(case.body, str) else json.dumps(case.body, default=str)
        report.findings += [
            Finding(case.operation.label, viewer, mode, problem, query, body) for problem in found
        ]

    if seed is not None:
        run = hypothesis_seed(seed)(run)
    try:
        run()
    finally:
        session.close()
    return report
