"""The SQLAlchemy Core tables behind the SQLModel classes, by the names the code uses.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlmodel import SQLModel

from inbox.domain import models


def _table(model: type[SQLModel]) -> Table:
    """The model's Core table. SQLModel sets ``__table__`` when a ``table=True`` class is
    created but does not declare it to type checkers: read it here once, checked, so the
    rest of the code sees a typed Table."""
    table = getattr(model, "__table__")
    assert isinstance(table, Table), model
    return table


USERS = _table(models.User)
TEAMS = _table(models.Team)
MEMBERS = _table(models.TeamMember)
TOKENS = _table(models.ApiToken)
INBOXES = _table(models.Inbox)
CONTACTS = _table(models.Contact)
IDENTITIES = _table(models.ContactIdentity)
CONSENT = _table(models.ConsentRecord)
CONVERSATIONS = _table(models.Conversation)
MESSAGES = _table(models.Message)
NOTES = _table(models.Note)
CONV_EVENTS = _table(models.ConversationEvent)
JOBS = _table(models.DeliveryJob)
EVENTS = _table(models.Event)
CANNED = _table(models.CannedResponse)
EARLY_RECEIPTS = _table(models.EarlyReceipt)
WEBHOOK_NONCES = _table(models.WebhookNonce)
LABELS = _table(models.Label)
CONVERSATION_LABELS = _table(models.ConversationLabel)
NOTIFICATIONS = _table(models.Notification)
PREFERENCES = _table(models.UserPreference)
AGENT_STATE = _table(models.AgentState)
PRESENCE_CHANGES = _table(models.PresenceChange)
CALENDARS = _table(models.BusinessCalendar)
SLA_POLICIES = _table(models.SlaPolicy)
SLA_TARGETS = _table(models.SlaTarget)
SLA_SPANS = _table(models.SlaSpan)
CALENDAR_VERSIONS = _table(models.CalendarVersion)
FACTS = _table(models.ReportFact)
INBOX_CALENDARS = _table(models.InboxCalendar)
CSAT_SURVEYS = _table(models.CsatSurvey)
AUTOMATION_RULES = _table(models.AutomationRule)
AUTOMATION_RUNS = _table(models.AutomationRun)
AUTOMATION_TIMERS = _table(models.AutomationTimer)
AUTOMATION_CURSOR = _table(models.AutomationCursor)
MACROS = _table(models.Macro)
CAMPAIGNS = _table(models.Campaign)
CAMPAIGN_RECIPIENTS = _table(models.CampaignRecipient)
SCHEDULED = _table(models.ScheduledMessage)
REPLY_FALLBACKS = _table(models.ReplyFallback)
WEBHOOK_ENDPOINTS = _table(models.WebhookEndpoint)
WEBHOOK_DELIVERIES = _table(models.WebhookDelivery)
WEBHOOK_ATTEMPTS = _table(models.WebhookAttempt)
WEBHOOK_STATE = _table(models.WebhookState)
ROLLUPS = _table(models.ReportRollup)
ROLLUP_STATE = _table(models.ReportRollupState)
