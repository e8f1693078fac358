"""Schemathesis over /api/openapi.json, against the live server with a seeded database and
an admin's token: every operation, a fixed number of cases each, seeded and deterministic
so a run is reproducible. No answer may be a server error, and every answer must conform
to the spec (status, content type, body schema)."""

from __future__ import annotations

import asyncio
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.conftest import Live

MAX_EXAMPLES = 10  # per operation, in the fuzzing phase (the coverage phase runs what the spec defines)
SEED = 20261201
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


async def _seed(live: Live) -> None:
    """Something for most ids to find: conversations, a team with a conversation, notes,
    canned responses, tokens."""
    for n in range(3):
        assert (await live.sms(f"+1555765432{n}", f"hello {n}")).status_code == 200
    team = await live.client.post("/api/teams", headers=live.as_("admin"),
                                  json={"name": "Billing", "member_ids": [live.users["agent"]["id"]]})
    assert team.status_code == 201
    convs = (await live.get("/api/conversations", who="lead"))["items"]
    r = await live.client.post(f"/api/conversations/{convs[0]['id']}/assignment", headers=live.as_("lead"),
                               json={"team_id": team.json()["id"]})
    assert r.status_code == 200
    r = await live.client.post(f"/api/conversations/{convs[1]['id']}/notes", headers=live.as_("agent"),
                               json={"text": "check the order"})
    assert r.status_code == 201
    r = await live.client.post("/api/canned_responses", headers=live.as_("admin"),
                               json={"short_code": "thanks", "text": "Thank you!"})
    assert r.status_code == 201


async def test_no_operation_answers_a_server_error_or_off_spec(live: Live, tmp_path: Path) -> None:
    await _seed(live)
    token = await live.client.post("/api/tokens", headers=live.as_("admin"), json={"name": "schemathesis"})
    tokens = (await live.get("/api/tokens", who="admin"))["items"]
    spec = (await live.client.get("/api/openapi.json")).json()["paths"]
    operations = {f"{method.upper()} {path}" for path, methods in spec.items() for method in methods}
    operations.remove("GET /api/openapi.json")  # schemathesis leaves out the spec's own route
    report = tmp_path / "junit.xml"
    st = Path(sys.executable).with_name("st")
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.helpers.schemathesis_hooks",
           "INBOX_FUZZ_TOKEN_ID": str(max(t["id"] for t in tokens)),
           "PYTHONPATH": str(Path(__file__).parent.parent)}
    proc = await asyncio.create_subprocess_exec(
        str(st), "run", f"{live.url}/api/openapi.json", "--url", live.url,
        "-H", f"Authorization: Bearer {token.json()['token']}", "--checks", CHECKS,
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--generation-deterministic",
        "--phases", "examples,coverage,fuzzing", "--workers", "1",
        "--request-timeout", "10", "--continue-on-failure", "--no-color", "--report", "junit",
        "--report-junit-path", str(report), env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 600)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-20000:]
    suites = ET.parse(report).getroot()
    tested = {case.get("name") for case in suites.iter("testcase")}
    assert tested == operations, (operations - tested, tested - operations)
    assert not suites.findall(".//failure") and not suites.findall(".//error"), text[-20000:]
    print(text[-3000:])  # the figures, with -s


def test_every_route_that_takes_a_body_declares_it() -> None:
    """A new POST or PATCH route without ``takes`` would be fuzzed with no body at all."""
    from inbox.config import Settings
    from ui.api.openapi import build_spec
    from ui.app import create_app

    app = create_app(Settings(database_url="sqlite://", secret_key="x", public_url="http://127.0.0.1:1"))
    bodyless = {("post", "/api/conversations/{id}/read"), ("post", "/api/messages/{id}/retry"), ("post", "/logout"),
                ("post", "/api/webhooks/{id}/rotate"), ("post", "/api/webhooks/{id}/test"),
                ("post", "/api/webhooks/deliveries/{id}/replay"),
                ("post", "/api/conversations/{id}/macros/{macro_id}"),
                *(("post", f"/api/campaigns/{{id}}/{a}") for a in ("preflight", "start", "pause", "resume", "cancel"))}
    spec = build_spec(app.routes)["paths"]
    missing = [(method, path) for path, methods in spec.items() for method, operation in methods.items()
               if method in ("post", "patch") and "requestBody" not in operation and (method, path) not in bodyless]
    assert missing == []
    assert spec["/api/conversations"]["get"]["parameters"][0]["in"] == "query"
