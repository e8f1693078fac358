"""What every webhook route shares: the app's context and the URL the provider called."""

from __future__ import annotations

import functools
import ssl

import httpx
from starlette.requests import Request

from inbox.actions.context import Context
from inbox.domain.channels import ProviderUnavailable
from inbox.queries.directory import InboxDirectory


@functools.cache
def tls() -> ssl.SSLContext:
    """The one TLS context of every HTTP client of the process (verifying, with the CA
    bundle httpx uses): making one reads the whole bundle, 45 ms of CPU each time."""
    return httpx.create_ssl_context()


def webhook_context(request: Request) -> tuple[Context, InboxDirectory]:
    return request.app.state.ctx, request.app.state.directory


def public_url(ctx: Context, request: Request) -> str:
    """The URL the provider called, as the provider saw it (behind any proxy): what
    signatures that cover the URL (Twilio's) are computed over."""
    url = ctx.settings.public_url + request.url.path
    return url + ("?" + request.url.query if request.url.query else "")


def unreachable(exc: BaseException, provider: str, timeout: float) -> ProviderUnavailable:
    """A transport failure talking to ``provider`` over HTTP (httpx, or the OS beneath it):
    transient, worded for the agent."""
    if isinstance(exc, httpx.TimeoutException):
        return ProviderUnavailable("timeout", f"{provider} did not answer within {timeout:g} s")
    return ProviderUnavailable("network", f"could not reach {provider}: {exc or type(exc).__name__}")
