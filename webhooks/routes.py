"""Every provider's webhook routes, collected for the app."""

from __future__ import annotations

from webhooks import email, messenger, telegram, twilio, whatsapp

routes = [*twilio.routes, *whatsapp.routes, *messenger.routes, *telegram.routes, *email.routes]
