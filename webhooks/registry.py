"""Which adapter serves which channel kind: built once per process."""

from __future__ import annotations

from inbox.channels import Registry
from inbox.config import Settings
from webhooks import email, messenger, telegram, twilio, whatsapp


def build_registry(settings: Settings) -> Registry:
    registry = Registry()
    for module in (twilio, whatsapp, messenger, telegram, email):
        adapter = module.make_adapter(settings)
        if adapter is not None:  # a channel still being built has none yet
            registry.register(adapter)
    return registry
