"""Replies to a loft: POST {api_url}/lofts/{loft}/messages with ``{"to", "text"}`` and the
inbox's API key as a bearer token; the loft answers ``{"id": ...}``. A pigeon can do no
more: no media to fetch, no webhook to register, no templates, so it declares Sender alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from inbox.domain.channels import (
    Adapter,
    OutboundMessage,
    ProviderRejected,
    ProviderUnavailable,
    Sender,
    Sent,
)
from inbox.domain.errors import Invalid
from webhooks.http import unreachable

REQUIRED = ("loft", "api_url", "api_key", "signing_secret")


class PigeonAdapter(Adapter, Sender):
    def __init__(self, public_url: str, timeout: float) -> None:
        self.public_url = public_url.rstrip("/")
        self.timeout = timeout
        self.http = httpx.AsyncClient(timeout=timeout)

    def configure(self, settings: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        missing = [k for k in REQUIRED if not settings.get(k)]
        if missing:
            raise Invalid(f"a pigeon inbox needs {', '.join(missing)}", "missing_settings")
        unknown = set(settings) - set(REQUIRED)
        if unknown:
            raise Invalid(f"unknown pigeon settings: {', '.join(sorted(unknown))}", "unknown_settings")
        clean = {k: str(settings[k]).strip() for k in REQUIRED}
        return clean["loft"], clean

    async def send(self, message: OutboundMessage) -> Sent:
        s = message.settings
        try:
            response = await self.http.post(f"{s['api_url'].rstrip('/')}/lofts/{s['loft']}/messages",
                                            headers={"authorization": f"Bearer {s['api_key']}"},
                                            json={"to": message.to, "text": message.text})
        except (httpx.HTTPError, OSError) as exc:
            raise unreachable(exc, "the loft", self.timeout) from None
        if response.status_code >= 500:
            raise ProviderUnavailable(str(response.status_code), "the loft is down")
        if response.status_code != 200:
            raise ProviderRejected(str(response.status_code), f"the loft refused the message: {response.text[:200]}")
        return Sent(str(response.json()["id"]))

    def webhook_urls(self, inbox: Mapping[str, Any]) -> dict[str, str]:
        return {"webhook_url": f"{self.public_url}/webhooks/pigeon/{inbox['id']}"}

    async def aclose(self) -> None:
        await self.http.aclose()
