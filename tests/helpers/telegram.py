"""Telegram updates as Telegram posts them: recorded-shape fixtures, and the secret header."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.telegram import FakeTelegram
from tests.helpers.server import serve

FIXTURES = Path(__file__).parent.parent / "fixtures" / "telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
BOT_TOKEN = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "webhook-secret_0123456789"


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """A fake Bot API that knows BOT_TOKEN (import it into a test module to use it)."""
    fake = FakeTelegram([BOT_TOKEN])
    async with serve(fake.app) as url:
        fake.url = url
        yield fake


def update(name: str, **message: Any) -> dict[str, Any]:
    """A fixture, with fields of its message (or edited_message) replaced."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    data = copy.deepcopy(data)
    for key in ("message", "edited_message"):
        if key in data:
            data[key].update(message)
    return data


async def deliver(client: httpx.AsyncClient, inbox_id: int, body: dict[str, Any] | bytes,
                  secret: str | None) -> httpx.Response:
    """POST an update to the inbox's webhook the way Telegram does (JSON, secret header)."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(f"/webhooks/telegram/{inbox_id}", content=content, headers=headers)
