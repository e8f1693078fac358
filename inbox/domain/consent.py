"""Consent (docs/consent.md): a contact's ledger of opt-ins and opt-outs per channel kind and
purpose, and what it allows.

The ledger is append-only; where a contact stands on a (kind, purpose) is its latest line.
The rules of sending:

- a **transactional** message (a reply, a reminder, an order update) needs no opt-in, only
  no standing transactional opt-out: a customer who sent STOP gets nothing more there;
- a **marketing** message needs a standing marketing opt-in, and no transactional opt-out
  either (STOP stops everything on that channel).

A transactional opt-out is what the channels knew before the ledger (an identity's
``opted_out``): it is kept on the contact's identities of that kind as well, where the hot
paths (reply channels, sending) read it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from inbox.domain.errors import Invalid

MAX_PROOF_CHARS = 1000


class Purpose(StrEnum):
    transactional = "transactional"
    marketing = "marketing"


class State(StrEnum):
    opt_in = "opt_in"
    opt_out = "opt_out"


class Source(StrEnum):
    keyword = "keyword"  # the customer sent an opt-out or opt-in word
    agent = "agent"  # an agent recorded it (the customer said so on the phone, say)
    api = "api"
    import_ = "import"
    form = "form"  # a sign-up form of the business
    provider = "provider"  # the provider refused a message: the customer opted out there
    unsubscribe = "unsubscribe"  # an email's one-click unsubscribe (RFC 8058)
    migration = "migration"  # an opt-out recorded before the ledger


# What an agent or the API may give as the source; the others are the inbox's own.
GIVEN_SOURCES = (Source.agent, Source.api, Source.import_, Source.form)


@dataclass(frozen=True, slots=True)
class Standing:
    """Where one (kind, purpose) stands: its latest record's state, or None without one."""

    state: State | None
    record: Mapping[str, Any] | None = None


def standing(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Standing]:
    """(kind, purpose) -> its standing, from the records (any order: the highest id wins)."""
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for r in records:
        key = (r["kind"], r["purpose"])
        if key not in latest or r["id"] > latest[key]["id"]:
            latest[key] = r
    return {key: Standing(State(r["state"]), r) for key, r in latest.items()}


def may_send(standings: Mapping[tuple[str, str], Standing], kind: str, purpose: Purpose) -> str | None:
    """Why a message of ``purpose`` may not go to the contact on ``kind``; None: it may."""
    transactional = standings.get((kind, Purpose.transactional), Standing(None)).state
    if transactional == State.opt_out:
        return f"opted out of {kind} messages"
    if purpose == Purpose.marketing:
        marketing = standings.get((kind, Purpose.marketing), Standing(None)).state
        if marketing == State.opt_out:
            return f"opted out of {kind} marketing"
        if marketing != State.opt_in:
            return f"no marketing opt-in on {kind}"
    return None


def check(raw: Any, kinds: Iterable[str], *, default_source: Source) -> dict[str, Any]:
    """A record asked for through the API: ``{"channel", "purpose", "state", "source"?,
    "proof"?}``, checked; refused with the reason."""
    if not isinstance(raw, Mapping):
        raise Invalid('a consent record is an object: {"channel", "purpose", "state", "source", "proof"}',
                      "invalid_consent")
    unknown = set(raw) - {"channel", "purpose", "state", "source", "proof"}
    if unknown:
        raise Invalid(f"unknown consent fields: {', '.join(sorted(unknown))}", "invalid_consent")
    known = sorted(kinds)
    if raw.get("channel") not in known:
        raise Invalid(f"channel must be one of {', '.join(known)}", "invalid_consent")
    for name, enum in (("purpose", Purpose), ("state", State)):
        if raw.get(name) not in {e.value for e in enum}:
            raise Invalid(f"{name} must be one of {', '.join(e.value for e in enum)}", "invalid_consent")
    source = raw.get("source", default_source.value)
    if source not in {s.value for s in GIVEN_SOURCES}:
        raise Invalid(f"source must be one of {', '.join(s.value for s in GIVEN_SOURCES)}", "invalid_consent")
    proof = raw.get("proof")
    if proof is not None and (not isinstance(proof, str) or len(proof) > MAX_PROOF_CHARS):
        raise Invalid(f"proof must be text of at most {MAX_PROOF_CHARS} characters", "invalid_consent")
    return {"kind": raw["channel"], "purpose": raw["purpose"], "state": raw["state"], "source": source,
            "proof": (proof or "").strip() or None}


# -- one-click unsubscribe (RFC 8058) ------------------------------------------------------

def unsubscribe_token(secret: str, contact_id: int, kind: str) -> str:
    """``<contact id>.<kind>.<signature>``: an unsubscribe link's address names one contact's
    marketing on one channel and cannot be made for another without INBOX_SECRET_KEY. It
    does not expire: a message's unsubscribe link must work as long as the message is read."""
    return f"{contact_id}.{kind}.{_signature(secret, contact_id, kind)}"


def verify_unsubscribe(secret: str, value: str) -> tuple[int, str] | None:
    """(contact id, kind) of a genuine token; None for a forged or malformed one."""
    parts = value.split(".")
    if len(parts) != 3 or not (parts[0].isascii() and parts[0].isdigit() and len(parts[0]) <= 12) \
            or not (parts[1].isascii() and parts[1].isalnum() and len(parts[1]) <= 32):
        return None
    contact_id, kind = int(parts[0]), parts[1]
    if not hmac.compare_digest(parts[2].encode(), _signature(secret, contact_id, kind).encode()):
        return None
    return contact_id, kind


def _signature(secret: str, contact_id: int, kind: str) -> str:
    mac = hmac.new(secret.encode(), f"unsubscribe.{contact_id}.{kind}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def list_unsubscribe_headers(public_url: str, secret: str, contact_id: int) -> dict[str, str]:
    """The headers of a marketing email (RFC 2369, RFC 8058): the unsubscribe link, and that
    a POST of ``List-Unsubscribe=One-Click`` to it unsubscribes with no further step. (RFC
    8058 wants both headers covered by the message's DKIM signature.)"""
    link = f"{public_url.rstrip('/')}/unsubscribe/{unsubscribe_token(secret, contact_id, 'email')}"
    return {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
