"""An inbox's keywords at work, inside ingest's transaction (docs/automation.md,
"Keywords and opt-out"; the rules in inbox/domain/keywords.py): the confirmation of an
opt-out, an opt-in or a HELP, and keyword replies with their labels.

The opt-out itself is the identity's (ingest sets it from the message, as from Twilio's
OptOutType): the customer is opted out of that channel, every inbox of it. The stop
confirmation is the one message that still goes to them; a keyword reply never goes to
an opted-out customer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from inbox import queries
from inbox.actions.common import _log
from inbox.actions.labels import labels_in
from inbox.actions.replies import write_outbound
from inbox.domain import keywords as kw
from inbox.domain.access import AUTOMATION
from inbox.domain.channels import InboundMessage, ReplyWindow
from inbox.storage.db import Tx


def answer(tx: Tx, msg: InboundMessage, keywords: kw.Keywords, asked: str, conversation_id: int, contact_id: int,
           now: datetime, windows: Mapping[str, ReplyWindow]) -> int | None:
    """What the keywords do about the customer's message just stored (``asked``: the
    opt-out word's kind, or ""): the id of the message sent in answer, if one went."""
    if asked:
        text = keywords.get(f"{asked}_reply", "")
        rule = None
    else:
        rule = kw.rule_for(keywords, msg.text)
        if rule is None:
            return None
        text = rule["reply"]
        if rule["label_ids"]:
            labels_in(tx, AUTOMATION, conversation_id, list(rule["label_ids"]), [], now)
    sent = None
    if text:
        channels = {c["inbox_id"]: c for c in queries.reply_channels(tx.conn, conversation_id, now, windows)}
        choice = channels.get(msg.inbox_id)
        # The confirmation of a STOP goes although the customer has just opted out; nothing else does.
        if choice is not None and (choice["available"] or asked in ("stop", "help")
                                   and "opted out" in (choice["reason"] or "")):
            sent = write_outbound(tx, conversation_id, contact_id, choice, str(text), now, author_id=None,
                                  automatic="keyword")["id"]
    if sent is not None or rule is not None:  # what was done, in the timeline (an opt-out shows on the contact)
        _log(tx, conversation_id, "keyword", None, {"word": kw.whole(msg.text) if asked else kw.first(msg.text),
                                                   "kind": asked or "rule", "message_id": sent,
                                                   "label_ids": rule["label_ids"] if rule else []}, now)
    return sent
