"""WhatsApp through Meta's Cloud API (``cloud_api``), or through Twilio (an inbox with
``provider: twilio``, served by webhooks/sms/twilio.py): one channel kind, so a customer
is one WhatsApp identity whoever carries the message, under the same 24-hour window.

This file declares the channel; the providers' modules are imported only when an app serves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

from starlette.routing import BaseRoute

from inbox.config import Settings
from inbox.domain.channels import Adapter, Channel, ReplyWindow, Setting
from webhooks.providers import ByProvider
from webhooks.sms import ACCOUNT

KIND = "whatsapp"
CLOUD_API = (
    Setting("phone-number-id", "phone_number_id", label="Phone number ID",
            help="the Phone Number ID (WhatsApp > API Setup), not the number",
            required=True),
    Setting("access-token", "access_token", label="Access token",
            help="a permanent System User access token", required=True, secret=True),
    Setting("app-secret", "app_secret", label="App secret",
            help="the Meta app's App Secret (checks webhook signatures)", required=True,
            secret=True),
    Setting("verify-token", "verify_token", label="Verify token",
            help="any string; enter the same in the app's webhook settings",
            required=True, secret=True),
    Setting("waba-id", "waba_id", label="WhatsApp Business Account ID",
            help="the WhatsApp Business Account ID (lists approved templates)"),
)


TWILIO = (Setting("phone", "phone_number", label="Phone number (Twilio)",
                  help="the WhatsApp sender's number on Twilio (stored as E.164)",
                  required=True), *ACCOUNT)


def _adapter(settings: Settings) -> Adapter:
    from webhooks.sms import twilio
    from webhooks.whatsapp import cloud_api
    return ByProvider(KIND, cloud_api.make_adapter(settings),
                      {twilio.PROVIDER: twilio.make_whatsapp_adapter(settings)})


def _routes() -> Sequence[BaseRoute]:
    from webhooks.whatsapp import cloud_api
    return cloud_api.routes  # Twilio's webhooks arrive on the sms channel's routes


CHANNEL = Channel(
    kind=KIND, label="WhatsApp", adapter=_adapter, routes=_routes,
    # Every provider's flags; which are required depends on the provider, so its adapter's configure() says.
    settings=(Setting("provider", "provider", label="Provider",
                      help="twilio for a sender on Twilio (with --phone, --account-sid, "
                           "--auth-token); omit for Meta's Cloud API"),
              *(replace(s, required=False) for s in (*CLOUD_API, *TWILIO))),
    # Free-form replies for 24 hours after the customer's last message; after that only an
    # approved template (Meta's customer service window, whoever carries the message).
    reply_window=ReplyWindow(timedelta(hours=24), templates=True),
    icon="WA", colour="#1a7f4b", logo="logo-whatsapp", docs="docs/channels/whatsapp.md",
)
