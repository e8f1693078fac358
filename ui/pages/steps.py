"""Ordered steps as a form shows them: an automation rule's actions (ui/pages/admin_automation.py)
and a macro's steps (ui/pages/macros.py) share one editor (``steps`` in ui/templates/steps.html):
a row per step, its type chosen from a list, and only the field that type needs (ui/static/admin.js
hides the others; without JavaScript every field shows and only the chosen type's is read).

Here: a stored step as its row, the rows as posted, the rows as the REST body's steps (the
domain's check then judges them, as it judges the API's), a check's message in the form's
words, and a step in words for a card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.datastructures import FormData

from inbox import queries
from inbox.actions import automation as rules
from inbox.domain.errors import Invalid
from inbox.domain.models import Priority
from ui.pages.sla import duration

# Every field a row may carry (the template names them ``<prefix><i>_<key>``).
KEYS = ("type", "team_id", "user_id", "label_id", "priority", "text", "name", "language", "params", "minutes",
        "endpoint_id")
# Each step type as the form names it (the rules' actions, and a macro's reply).
WORDS = {"assign_team": "Assign to the team", "assign_agent": "Assign to the agent",
         "route": "Hand to routing", "add_label": "Add the label", "remove_label": "Remove the label",
         "set_priority": "Set the priority", "send_message": "Send the message", "reply": "Reply to the customer",
         "send_template": "Send the template", "add_note": "Add the private note", "resolve": "Resolve",
         "snooze": "Snooze for (minutes)", "reopen": "Reopen", "send_csat": "Send the satisfaction survey",
         "webhook": "Post to the webhook"}
# Fields naming a thing of the inbox, and which list names it.
_NAMED = (("team_id", "team"), ("user_id", "agent"), ("label_id", "label"))


def row(step: Mapping[str, Any]) -> dict[str, str]:
    """A stored step as its form's row."""
    out = {key: "" for key in KEYS}
    out["type"], out["language"] = step["type"], "en_US"
    for key in ("team_id", "user_id", "label_id", "minutes", "endpoint_id", "priority", "text", "name", "language"):
        if key in step:
            out[key] = str(step[key])
    if step.get("params"):
        out["params"] = ", ".join(step["params"])
    return out


def padded(rows: list[dict[str, str]], limit: int, least: int = 3) -> list[dict[str, str]]:
    """The rows with empty ones to add to: two more than given (``least`` at first), up to ``limit``."""
    empty = {key: "" for key in KEYS}
    return rows + [dict(empty) for _ in range(max(0, min(limit, max(least, len(rows) + 2)) - len(rows)))]


def posted(form: FormData, prefix: str, limit: int, least: int = 3) -> list[dict[str, str]]:
    """The rows as typed, to read or to show again; trailing empty rows beyond two dropped."""
    rows = [{key: str(form.get(f"{prefix}{i}_{key}", "")).strip() for key in KEYS} for i in range(limit)]
    while len(rows) > least and not rows[-1]["type"] and not rows[-2]["type"]:
        rows.pop()
    return rows


def body(rows: Sequence[Mapping[str, str]], fields: Mapping[str, Mapping[str, str]], words: Mapping[str, str],
         noun: str) -> list[dict[str, Any]]:
    """The rows with a type as the REST body's steps (``fields``: each type's fields and their
    kinds, as inbox/domain/automation.py declares them). What only the form can get wrong (no
    type, no number) is refused here, in the form's words ("Step 2 (snooze...): choose one")."""
    out: list[dict[str, Any]] = []
    for i, r in enumerate(rows):
        kind = r["type"]
        if not kind:
            continue
        if kind not in fields:
            raise Invalid(f"{noun} {i + 1}: choose what it does", "invalid_field")
        step: dict[str, Any] = {"type": kind}
        for name, what in fields[kind].items():
            raw = r.get(name, "")
            if what in ("id", "minutes"):
                if not raw.isdigit():
                    raise Invalid(f"{noun} {i + 1} ({words[kind].lower()}): choose one", "invalid_field")
                step[name] = int(raw)
            elif what == "params":
                step[name] = [p.strip() for p in raw.split(",") if p.strip()]
            else:
                step[name] = raw
        out.append(step)
    return out


def plain(message: str, nouns: Mapping[str, str]) -> str:
    """A check's message in the form's words: ``actions[1].team_id must...`` -> ``Action 2:
    must...`` for ``nouns={"actions": "Action"}``."""
    for key, noun in nouns.items():
        prefix = key + "["
        index, sep, rest = message.removeprefix(prefix).partition("]")
        if message.startswith(prefix) and sep and index.isdigit():
            rest = rest.lstrip(".")
            head, colon, tail = rest.partition(": ")
            message = f"{noun} {int(index) + 1}: {tail if colon and head.isidentifier() else rest}"
    return message[:1].upper() + message[1:]


def said(step: Mapping[str, Any], names: Mapping[str, Mapping[int, str]], words: Mapping[str, str]) -> str:
    """A step in words for a card, naming the team, agent or label it acts on."""
    if step["type"] == "reply":
        return f"reply “{step['text'][:80]}”"
    if step["type"] == "snooze":
        return f"snooze for {duration(step['minutes'] * 60, exact=True)}"
    for key, kind in _NAMED:
        if key in step:
            return f"{words[step['type']].lower()} {names[kind].get(step[key], '#' + str(step[key]))}"
    return rules.describe(step)


def choices(c: Any) -> dict[str, Any]:
    """What a step may name (teams, active agents, labels, priorities), and each id's name."""
    teams = [{"id": t["id"], "name": t["name"]} for t in queries.list_teams(c)]
    agents = [{"id": u["id"], "name": u["name"]} for u in queries.list_users(c) if u["active"]]
    labels = [{"id": x["id"], "name": x["name"]} for x in queries.list_labels(c)]
    return {"teams": teams, "agents": agents, "labels": labels, "priorities": [p.value for p in Priority],
            "names": {"team": {t["id"]: t["name"] for t in teams}, "agent": {a["id"]: a["name"] for a in agents},
                      "label": {x["id"]: x["name"] for x in labels}}}
