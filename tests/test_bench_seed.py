"""The agent UI's seeding helper (bench/ui_seed.py), small: every channel, the people, the
failed send and the long conversation are there, written through the app's own paths."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from bench.ui_seed import BIG, CUSTOMERS, FAILED, HTML_EMAIL, seeded


async def test_a_small_seed_has_every_part(tmp_path: Path) -> None:
    async with seeded(tmp_path, big_messages=120) as s:
        assert s.counts["users"] == 5 and s.counts["inboxes"] == 5
        assert s.counts["conversations"] == len(CUSTOMERS)
        assert s.counts["contacts"] == len(CUSTOMERS)  # the two Jonas Schmidts stay two contacts
        assert s.counts["largest"] == 120 and s.counts["failed"] == 1
        async with httpx.AsyncClient(base_url=s.url, headers=s.as_("lead")) as c:
            listed = (await c.get("/api/conversations", params={"status": ""})).json()["items"]
            names = [x["contact"]["name"] for x in listed]
            assert names.count("Jonas Schmidt") == 2
            assert {x["channel"] for x in listed} == {"sms", "whatsapp", "messenger", "telegram", "email"}
            assert sum(1 for x in listed if x["assignee_id"] is not None) >= 12
            failed = (await c.get(f"/api/conversations/{s.conversations[FAILED]}/timeline")).json()["items"]
            assert [m["status"] for m in failed if m["type"] == "message" and m["direction"] == "out"] == ["failed"]
            mail = (await c.get(f"/api/conversations/{s.conversations[HTML_EMAIL]}/timeline")).json()["items"]
            assert any("cdn.northwind-mail.example" in str(m.get("payload")) for m in mail)
            big = (await c.get(f"/api/conversations/{s.conversations[BIG]}/timeline")).json()["items"]
            assert {m["direction"] for m in big if m["type"] == "message"} == {"in", "out"}
            # ui/timing.py: the server's time on the UI's partials, and nowhere else.
            partial = await c.get(f"/ui/conversations/{s.conversations[BIG]}")
            assert re.fullmatch(r"app;dur=\d+\.\d", partial.headers["server-timing"]), partial.headers
            assert "server-timing" not in (await c.get("/api/me")).headers
