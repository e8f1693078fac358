"""An in-memory index of inboxes, so a webhook finds its inbox (and the secret to check
its signature with) without a database round trip. Reloaded on a miss (at most once a
second, so a flood of unknown destinations cannot hammer the database), after a local
change, and when older than ``MAX_AGE`` (to see other processes' changes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from inbox import queries
from inbox.storage.db import Database

MAX_AGE = 30.0
MIN_RELOAD_INTERVAL = 1.0


class InboxDirectory:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._by_id: dict[int, dict[str, Any]] = {}
        self._by_address: dict[tuple[str, str], dict[str, Any]] = {}
        self._loaded_at = 0.0

    async def reload(self) -> None:
        self._set(await self.db.read(queries.list_inboxes))

    def reload_sync(self) -> None:
        self._set(self.db.read_sync(queries.list_inboxes))

    def _set(self, inboxes: list[dict[str, Any]]) -> None:
        self._by_id = {i["id"]: i for i in inboxes}
        self._by_address = {(i["kind"], i["address"]): i for i in inboxes}
        self._loaded_at = time.monotonic()

    async def _fresh(self, found: Callable[[], Any]) -> Any:
        age = time.monotonic() - self._loaded_at
        hit = found()
        if (hit is None and age > MIN_RELOAD_INTERVAL) or age > MAX_AGE:
            await self.reload()
            hit = found()
        return hit

    async def by_address(self, kind: str, address: str) -> dict[str, Any] | None:
        return await self._fresh(lambda: self._by_address.get((kind, address)))  # type: ignore[no-any-return]

    async def by_id(self, inbox_id: int) -> dict[str, Any] | None:
        return await self._fresh(lambda: self._by_id.get(inbox_id))  # type: ignore[no-any-return]

    async def matching(self, kind: str, setting: str, value: str) -> list[dict[str, Any]]:
        def find() -> list[dict[str, Any]] | None:
            hits = [i for i in self._by_id.values() if i["kind"] == kind and i["settings"].get(setting) == value]
            return hits or None
        return await self._fresh(find) or []
