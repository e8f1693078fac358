"""Satisfaction surveys (docs/csat.md): asked when a conversation is resolved, answered in
the customer's channel or on our rating page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from inbox.domain.channels import InboundMessage
from inbox.storage.db import Tx


def resolved(tx: Tx, conversation_id: int, now: datetime) -> None:
    """The conversation was just resolved (in this transaction): ask for a rating if its
    inbox asks for one."""


def answer_from_message(tx: Tx, conv: Mapping[str, Any], msg: InboundMessage, message_id: int,
                        now: datetime) -> bool:
    """The customer's message, in a conversation whose survey waits for an answer
    (``conv["csat_survey_id"]``): whether it was the answer (a score), recorded."""
    return False
