"""Which adapter serves which channel kind: built once per process."""

from __future__ import annotations

from inbox.channels import Registry
from inbox.config import Settings
from webhooks.twilio import TwilioAdapter


def build_registry(settings: Settings) -> Registry:
    registry = Registry()
    registry.register(TwilioAdapter(settings.twilio_api_base, settings.public_url, settings.send_timeout_seconds))
    return registry
