"""Satisfaction surveys in tests: an inbox set to ask on resolve, a conversation answered
and resolved by an agent (who gets the credit), and the answer as the timeline shows it."""

from __future__ import annotations

from typing import Any

from tests.conftest import Live


async def ask_on_resolve(live: Live, inbox_id: int, **setting: Any) -> dict[str, Any]:
    r = await live.client.patch(f"/api/inboxes/{inbox_id}", headers=live.as_("admin"),
                                json={"csat": {"mode": "on_resolve", **setting}})
    assert r.status_code == 200, r.text
    return r.json()["csat"]  # type: ignore[no-any-return]


async def answer_and_resolve(live: Live, conversation_id: int, who: str = "agent", reply: bool = True) -> None:
    """``who`` takes the conversation, replies (unless not ``reply``) and resolves it."""
    steps = [(f"/api/conversations/{conversation_id}/assignment", {"user_id": live.users[who]["id"]}, 200),
             (f"/api/conversations/{conversation_id}/messages", {"text": "Done, anything else?"}, 202),
             (f"/api/conversations/{conversation_id}/status", {"status": "resolved"}, 200)]
    for path, body, status in steps if reply else steps[::2]:
        r = await live.client.post(path, headers=live.as_(who), json=body)
        assert r.status_code == status, r.text


async def events(live: Live, conversation_id: int, kind: str) -> list[dict[str, Any]]:
    items = (await live.get(f"/api/conversations/{conversation_id}/timeline", who="lead"))["items"]
    return [i for i in items if i["type"] == "event" and i["kind"] == kind]


async def conversation(live: Live, conversation_id: int) -> dict[str, Any]:
    return await live.get(f"/api/conversations/{conversation_id}", who="lead")  # type: ignore[no-any-return]


async def csat_figures(live: Live, group: str | None = None) -> dict[str, Any]:
    today = live.app.state.ctx.clock.now().date().isoformat()
    params = {"from": today, "to": today, "tz": "UTC", **({"group": group} if group else {})}
    return await live.get("/api/reports/overview", who="lead", params=params)  # type: ignore[no-any-return]
