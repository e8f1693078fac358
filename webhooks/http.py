"""What every webhook route shares: the app's context and the URL the provider called."""

from __future__ import annotations

from starlette.requests import Request

from inbox.actions.context import Context
from inbox.queries.directory import InboxDirectory


def webhook_context(request: Request) -> tuple[Context, InboxDirectory]:
    return request.app.state.ctx, request.app.state.directory


def public_url(ctx: Context, request: Request) -> str:
    """The URL the provider called, as the provider saw it (behind any proxy): what
    signatures that cover the URL (Twilio's) are computed over."""
    url = ctx.settings.public_url + request.url.path
    return url + ("?" + request.url.query if request.url.query else "")
