"""Admin: an inbox's keywords (docs/automation.md, "Keywords and opt-out"), a form on its card
in /admin/inboxes beside its automatic replies and survey (ui/templates/admin_keywords.html):
the opt-out, opt-in and help words with their confirmations, and the keyword replies. It goes
through the action PATCH /api/inboxes uses (``keywords``); a refusal redraws the section (422)
with the form open as typed and the reason in the form's words.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox import actions
from inbox.domain import keywords
from inbox.domain.errors import InboxError
from ui.http import form_id, parse_id
from ui.pages.admin import _admin, _back, _section

SECTION = "inboxes"
_SPLIT = re.compile(r"[,\s]+")
# The check's keys in the form's words, longest first.
LABELS = (("stop_reply", "Opt-out confirmation"), ("start_reply", "Opt-in confirmation"),
          ("help_reply", "Help confirmation"), ("stop", "Opt-out words"), ("start", "Opt-in words"),
          ("help", "Help words"))


def _posted(form: FormData) -> dict[str, Any]:
    """The form as typed (words as typed, to show again); its rows with anything in them."""
    v: dict[str, Any] = {k: str(form.get(k, "")).strip() for k in
                         ("stop", "start", "help", "stop_reply", "start_reply", "help_reply")}
    v["rules"] = []
    for n in range(keywords.MAX_RULES + 2):
        rule = {"word": str(form.get(f"r{n}_word", "")).strip(), "reply": str(form.get(f"r{n}_reply", "")).strip(),
                "label_ids": [x for raw in form.getlist(f"r{n}_labels") if (x := parse_id(raw)) is not None]}
        if rule["word"] or rule["reply"] or rule["label_ids"]:
            v["rules"].append(rule)
    return v


def _patch(v: dict[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {k: [w for w in _SPLIT.split(v[k]) if w] for k in ("stop", "start", "help")}
    patch.update({k: v[k] for k in ("stop_reply", "start_reply", "help_reply")})
    patch["rules"] = v["rules"]
    return patch


def plain(message: str) -> str:
    """``keywords.rules[1].word: ...`` -> ``Keyword 2: ...``; ``keywords.stop`` -> ``Opt-out words``."""
    message = message.removeprefix("keywords.").removeprefix("keywords: ")
    found = re.match(r"rules\[(\d+)\]\.?(\w*)", message)
    if found:
        field = {"word": "the word", "reply": "the reply", "label_ids": "the labels"}.get(found.group(2), "")
        message = f"Keyword {int(found.group(1)) + 1}" + (f", {field}" if field else "") + message[found.end():]
    for key, words in LABELS:
        if message.startswith(key):
            message = words + message[len(key):]
            break
    return message[:1].upper() + message[1:]


async def set_keywords(request: Request) -> Response:
    viewer = await _admin(request)
    if isinstance(viewer, Response):
        return viewer
    ctx, form = request.app.state.ctx, await request.form()
    values = _posted(form)
    try:
        iid = form_id(form.get("inbox_id"), "inbox_id")
        inbox = await ctx.db.write(lambda tx: actions.set_auto_reply(tx, iid, {"keywords": _patch(values)},
                                                                     ctx.clock.now()))
    except InboxError as exc:
        if exc.status != 422 or parse_id(form.get("inbox_id")) is None:
            return _back(SECTION, error=exc.message)
        return await _section(request, viewer, SECTION, exc.status, keywords_values={iid: values},
                              keywords_error={"inbox": iid, "message": plain(exc.message)})
    return _back(SECTION, done=f"Keywords of {inbox['name']} saved")


routes = [Route("/admin/inbox-keywords", set_keywords, methods=["POST"])]
