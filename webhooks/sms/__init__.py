"""SMS (and MMS) through Twilio; Twilio also carries WhatsApp (``provider: twilio``).

This file declares the channel; ``twilio`` is its inbound parsing, signature check and
adapter, imported only when an app serves it.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute

from inbox.config import Settings
from inbox.domain.channels import Adapter, Channel, Setting

KIND = "sms"
ACCOUNT = (  # what a Twilio sender needs besides its number, for SMS and for WhatsApp alike
    Setting("account-sid", "account_sid", label="Account SID", help="the Twilio account SID (AC...)", required=True),
    Setting("auth-token", "auth_token", label="Auth token",
            help="the account's auth token (checks webhook signatures)", required=True,
            secret=True),
    Setting("messaging-service-sid", "messaging_service_sid", label="Messaging Service SID",
            help="send through this Messaging Service (MG...)"),
)


def _adapter(settings: Settings) -> Adapter:
    from webhooks.sms import twilio
    return twilio.make_adapter(settings)


def _routes() -> Sequence[BaseRoute]:
    from webhooks.sms import twilio
    return twilio.routes  # the status callback serves the WhatsApp inboxes on Twilio too


CHANNEL = Channel(
    kind=KIND, label="SMS", adapter=_adapter, routes=_routes,
    settings=(Setting("phone", "phone_number", label="Phone number",
                      help="the Twilio number, any format (stored as E.164)", required=True),
              *ACCOUNT),
    reply_window=None,  # SMS can be sent any time (opt-outs aside)
    icon="SMS", colour="#7a4fd1", logo="message-square", docs="docs/channels/sms.md",
)
