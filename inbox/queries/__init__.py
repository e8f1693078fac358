"""Reads. Each query takes a SQLAlchemy ``Connection`` and returns JSON-ready dicts; routes
never build queries. One module per area; this package gathers them, so callers write
``queries.get_conversation(conn, id)``.
"""

from inbox.queries.contacts import contact_panel as contact_panel
from inbox.queries.contacts import get_contact as get_contact
from inbox.queries.contacts import likely_duplicates as likely_duplicates
from inbox.queries.contacts import merge_preview as merge_preview
from inbox.queries.contacts import search_contacts as search_contacts
from inbox.queries.conversations import get_conversation as get_conversation
from inbox.queries.conversations import get_conversations as get_conversations
from inbox.queries.conversations import list_conversations as list_conversations
from inbox.queries.conversations import open_loads as open_loads
from inbox.queries.conversations import reply_channels as reply_channels
from inbox.queries.conversations import tab_counts as tab_counts
from inbox.queries.conversations import waiting_queue as waiting_queue
from inbox.queries.conversations import with_labels as with_labels
from inbox.queries.cursors import decode_cursor as decode_cursor
from inbox.queries.cursors import encode_cursor as encode_cursor
from inbox.queries.events import events_after as events_after
from inbox.queries.events import first_event_id as first_event_id
from inbox.queries.events import last_event_id as last_event_id
from inbox.queries.health import ping as ping
from inbox.queries.labels import find_labels as find_labels
from inbox.queries.labels import get_label as get_label
from inbox.queries.labels import label_uses as label_uses
from inbox.queries.labels import labels_of as labels_of
from inbox.queries.labels import list_labels as list_labels
from inbox.queries.people import get_team as get_team
from inbox.queries.people import get_user as get_user
from inbox.queries.people import get_user_by_email as get_user_by_email
from inbox.queries.people import list_teams as list_teams
from inbox.queries.people import list_tokens as list_tokens
from inbox.queries.people import list_users as list_users
from inbox.queries.people import team_ids_of as team_ids_of
from inbox.queries.people import user_for_token as user_for_token
from inbox.queries.settings import calendar_of as calendar_of
from inbox.queries.settings import get_canned as get_canned
from inbox.queries.settings import get_inbox as get_inbox
from inbox.queries.settings import list_canned as list_canned
from inbox.queries.settings import list_inboxes as list_inboxes
from inbox.queries.timeline import get_message as get_message
from inbox.queries.timeline import get_raw as get_raw
from inbox.queries.timeline import timeline as timeline
from inbox.queries.notifications import get_notification as get_notification
from inbox.queries.notifications import get_preferences as get_preferences
from inbox.queries.notifications import list_notifications as list_notifications
from inbox.queries.notifications import unread_conversations as unread_conversations
from inbox.queries.notifications import unread_notifications as unread_notifications
from inbox.queries.routing import anything_routed as anything_routed
from inbox.queries.routing import describe_agent as describe_agent
from inbox.queries.routing import list_agents as list_agents
from inbox.queries.routing import presence_history as presence_history
from inbox.queries.routing import presence_of as presence_of
from inbox.queries.routing import routing_queue as routing_queue
from inbox.queries.routing import routing_snapshot as routing_snapshot
from inbox.queries.routing import why_waiting as why_waiting
