"""The only code that writes. Each action runs its writes as one job of the group-committing
writer (``inbox/storage/db.py``), checks permissions inside that transaction, and emits its
live events there, so they go out only after the commit. One module per area; this package
gathers their public actions, so callers write ``actions.send_reply(ctx, ...)``.

Naming: ``record_*`` takes what a provider told us, ``*_conversation``/``send_reply``/
``add_note`` act for a user, ``create_*`` are admin actions.
"""

from inbox.actions.admin import SHORT_CODE as SHORT_CODE
from inbox.actions.admin import access_changed as access_changed
from inbox.actions.admin import create_inbox as create_inbox
from inbox.actions.admin import create_team as create_team
from inbox.actions.admin import create_token as create_token
from inbox.actions.admin import create_user as create_user
from inbox.actions.admin import delete_canned as delete_canned
from inbox.actions.admin import delete_inbox as delete_inbox
from inbox.actions.admin import delete_team as delete_team
from inbox.actions.admin import discard_inbox as discard_inbox
from inbox.actions.admin import end_sessions as end_sessions
from inbox.actions.admin import reset_password as reset_password
from inbox.actions.admin import revoke_token as revoke_token
from inbox.actions.admin import save_canned as save_canned
from inbox.actions.admin import set_inbox_active as set_inbox_active
from inbox.actions.admin import update_inbox as update_inbox
from inbox.actions.admin import update_team as update_team
from inbox.actions.admin import update_user as update_user
from inbox.actions.autoreply import set_auto_reply as set_auto_reply
from inbox.actions.csat import rate_by_link as rate_by_link
from inbox.actions.csat import survey_by_token as survey_by_token
from inbox.actions.calendars import calendar_ref as calendar_ref
from inbox.actions.calendars import check_calendar as check_calendar
from inbox.actions.calendars import create_calendar as create_calendar
from inbox.actions.calendars import delete_calendar as delete_calendar
from inbox.actions.calendars import set_calendar as set_calendar
from inbox.actions.calendars import update_calendar as update_calendar
from inbox.actions.common import STATUS_RANK as STATUS_RANK
from inbox.actions.common import access_conversation as access_conversation
from inbox.actions.consent import record_consent as record_consent
from inbox.actions.consent import unsubscribe as unsubscribe
from inbox.actions.contacts import CONTACT_FIELDS as CONTACT_FIELDS
from inbox.actions.contacts import merge_contacts as merge_contacts
from inbox.actions.contacts import update_contact as update_contact
from inbox.actions.context import Context as Context
from inbox.actions.conversations import assign_conversation as assign_conversation
from inbox.actions.conversations import mark_read as mark_read
from inbox.actions.conversations import set_status as set_status
from inbox.actions.conversations import wake_snoozed as wake_snoozed
from inbox.actions.housekeeping import forget_webhook_nonce as forget_webhook_nonce
from inbox.actions.housekeeping import prune_events as prune_events
from inbox.actions.housekeeping import prune_webhook_nonces as prune_webhook_nonces
from inbox.actions.housekeeping import use_webhook_nonce as use_webhook_nonce
from inbox.actions.inbound import apply_early_receipts as apply_early_receipts
from inbox.actions.inbound import record_edit as record_edit
from inbox.actions.inbound import record_inbound as record_inbound
from inbox.actions.inbound import record_opt_out as record_opt_out
from inbox.actions.inbound import record_status as record_status
from inbox.actions.inbound import record_watermark as record_watermark
from inbox.actions.labels import LABEL_FIELDS as LABEL_FIELDS
from inbox.actions.labels import change_labels as change_labels
from inbox.actions.labels import create_label as create_label
from inbox.actions.labels import delete_label as delete_label
from inbox.actions.labels import set_priority as set_priority
from inbox.actions.labels import update_label as update_label
from inbox.actions.notes import MENTION as MENTION
from inbox.actions.notes import add_note as add_note
from inbox.actions.notifications import mark_notifications_read as mark_notifications_read
from inbox.actions.notifications import update_preferences as update_preferences
from inbox.actions.replies import MAX_TEXT_CHARS as MAX_TEXT_CHARS
from inbox.actions.replies import retry_message as retry_message
from inbox.actions.replies import send_reply as send_reply
from inbox.actions.presence import agent_active as agent_active
from inbox.actions.presence import agent_connected as agent_connected
from inbox.actions.presence import agent_disconnected as agent_disconnected
from inbox.actions.presence import choose_presence as choose_presence
from inbox.actions.routing import PassResult as PassResult
from inbox.actions.routing import change_routing as change_routing
from inbox.actions.routing import run_pass as run_pass
from inbox.actions.routing import set_capacity as set_capacity
from inbox.actions.routing import set_routing as set_routing
from inbox.actions.sla import create_sla_policy as create_sla_policy
from inbox.actions.sla import delete_sla_policy as delete_sla_policy
from inbox.actions.sla import FIRE_BATCH as FIRE_BATCH
from inbox.actions.sla import fire_due as fire_due
from inbox.actions.sla import move_sla_policy as move_sla_policy
from inbox.actions.sla import update_sla_policy as update_sla_policy
from inbox.actions.webhooks import create_webhook as create_webhook
from inbox.actions.webhooks import delete_webhook as delete_webhook
from inbox.actions.webhooks import prune_webhook_deliveries as prune_webhook_deliveries
from inbox.actions.webhooks import replay_delivery as replay_delivery
from inbox.actions.webhooks import rotate_webhook_secret as rotate_webhook_secret
from inbox.actions.webhooks import start_test as start_test
from inbox.actions.webhooks import update_webhook as update_webhook
