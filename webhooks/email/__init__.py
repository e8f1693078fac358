"""Email: mail received by our own SMTP receiver (or posted by SendGrid / Mailgun inbound
parsing) and replies sent over the inbox's SMTP server, threaded like a mail client.

Message format:  RFC 5322 (https://www.rfc-editor.org/rfc/rfc5322), threading 3.6.4
MIME:            RFC 2045-2049; encoded words RFC 2047
Bounces:         RFC 3464 (multipart/report; report-type=delivery-status)
Auto-replies:    RFC 3834 (Auto-Submitted)
Libraries:       aiosmtpd 1.4.6 (receiving), aiosmtplib 5.1.3 (sending), nh3 (HTML), tnefparse (winmail.dat)

One inbox is one address. This file declares the channel. Modules: ``adapter`` checks
settings and sends, ``mime`` reads a mail, ``inbound`` stores it (and is the HTTP route,
guarded by ``inbound_auth``), ``sender_auth`` records whether anything vouches for its
From, ``receiver`` is the SMTP server, ``outbound`` composes and sends replies.
See docs/channels/email.md. Provider vocabulary (Message-ID, RCPT, DSN...) stays in here.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute

from inbox.config import Settings
from inbox.domain.channels import Adapter, Channel, Setting

KIND = "email"


def _adapter(settings: Settings) -> Adapter:
    from webhooks.email import adapter
    return adapter.make_adapter(settings)


def _routes() -> Sequence[BaseRoute]:
    from webhooks.email import inbound
    return inbound.routes


CHANNEL = Channel(
    kind=KIND, label="Email", adapter=_adapter, routes=_routes,
    settings=(
        Setting("address", "address", label="Support address",
                help="the address customers write to, e.g. support@example.com", required=True),
        Setting("smtp-host", "smtp_host", label="SMTP server", help="the SMTP server replies are sent through"),
        Setting("smtp-port", "smtp_port", label="SMTP port", help="its port (default: 587 starttls, 465 tls, 25 none)"),
        Setting("smtp-username", "smtp_username", label="SMTP username", help="SMTP login"),
        Setting("smtp-password", "smtp_password", label="SMTP password", help="SMTP password", secret=True),
        Setting("smtp-security", "smtp_security", label="SMTP security", help="none | starttls (default) | tls"),
        Setting("trusted-authserv-id", "trusted_authserv_id", label="Trusted mail server (authserv-id)",
                help="the authserv-id of the mail server whose "
                     "Authentication-Results headers are believed"),
        Setting("inbound-secret", "inbound_secret", label="Inbound signing key",
                help="the secret of the HTTP inbound route (Mailgun's signing key; "
                     "the URL secret is derived from it); generated if omitted",
                secret=True),
    ),
    reply_window=None,  # mail can be answered any time
    icon="@", colour="#8a5a00", logo="mail", docs="docs/channels/email.md",
)
