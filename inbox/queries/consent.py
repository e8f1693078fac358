"""A contact's consent ledger and where it stands (docs/consent.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from inbox.domain import consent
from inbox.domain.consent import Purpose
from inbox.domain.tables import CONSENT, IDENTITIES
from inbox.storage.prepared import as_utc


def consent_records(conn: Connection, contact_id: int) -> list[dict[str, Any]]:
    """The contact's consent records, oldest first."""
    rows = conn.execute(select(CONSENT).where(CONSENT.c.contact_id == contact_id).order_by(CONSENT.c.id))
    return [{"id": r.id, "channel": r.kind, "kind": r.kind, "purpose": r.purpose, "state": r.state,
             "source": r.source, "proof": r.proof, "identity_id": r.identity_id, "user_id": r.user_id,
             "at": as_utc(r.at).isoformat()} for r in rows]


def consent_ledger(conn: Connection, contact_id: int) -> dict[str, Any]:
    """Where the contact stands on each channel kind it has or has records of (whether a
    transactional and a marketing message may go, and if not why), and its records, newest
    first."""
    found = consent_records(conn, contact_id)
    standings = consent.standing(found)
    kinds = set(conn.execute(select(IDENTITIES.c.kind).where(IDENTITIES.c.contact_id == contact_id)).scalars())
    kinds |= {r["kind"] for r in found}
    channels = []
    for kind in sorted(kinds):
        entry: dict[str, Any] = {"channel": kind}
        for purpose in Purpose:
            now = standings.get((kind, purpose))
            why = consent.may_send(standings, kind, purpose)
            entry[purpose.value] = {"state": now.state.value if now and now.state else None,
                                    "since": now.record["at"] if now and now.record else None,
                                    "source": now.record["source"] if now and now.record else None,
                                    "may_send": why is None, "reason": why}
        channels.append(entry)
    for r in found:
        del r["kind"]
    return {"contact_id": contact_id, "channels": channels, "records": list(reversed(found))}
