"""Every provider's webhook routes, collected for the app."""

from __future__ import annotations

from webhooks import email
from webhooks.messenger import graph_api as messenger
from webhooks.sms import twilio
from webhooks.telegram import bot_api as telegram
from webhooks.whatsapp import cloud_api as whatsapp

routes = [*twilio.routes, *whatsapp.routes, *messenger.routes, *telegram.routes, *email.routes]
