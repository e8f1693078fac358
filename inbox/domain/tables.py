"""The SQLAlchemy Core tables behind the SQLModel classes, by the names the code uses.
"""

from __future__ import annotations

from sqlalchemy import Table

from inbox.domain import models

USERS: Table = models.User.__table__  # type: ignore[assignment]


TEAMS: Table = models.Team.__table__  # type: ignore[assignment]


MEMBERS: Table = models.TeamMember.__table__  # type: ignore[assignment]


TOKENS: Table = models.ApiToken.__table__  # type: ignore[assignment]


INBOXES: Table = models.Inbox.__table__  # type: ignore[assignment]


CONTACTS: Table = models.Contact.__table__  # type: ignore[assignment]


IDENTITIES: Table = models.ContactIdentity.__table__  # type: ignore[assignment]


CONVERSATIONS: Table = models.Conversation.__table__  # type: ignore[assignment]


MESSAGES: Table = models.Message.__table__  # type: ignore[assignment]


NOTES: Table = models.Note.__table__  # type: ignore[assignment]


CONV_EVENTS: Table = models.ConversationEvent.__table__  # type: ignore[assignment]


JOBS: Table = models.DeliveryJob.__table__  # type: ignore[assignment]


EVENTS: Table = models.Event.__table__  # type: ignore[assignment]


CANNED: Table = models.CannedResponse.__table__  # type: ignore[assignment]


EARLY_RECEIPTS: Table = models.EarlyReceipt.__table__  # type: ignore[assignment]


WEBHOOK_NONCES: Table = models.WebhookNonce.__table__  # type: ignore[assignment]
