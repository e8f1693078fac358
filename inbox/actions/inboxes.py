"""Setting up and changing inboxes through their channel adapter: the one path the REST
API and the CLI share."""

from __future__ import annotations

from typing import Any

from inbox import actions, queries
from inbox.actions.context import Context
from inbox.domain import serialize
from inbox.domain.channels import Registry, SendError
from inbox.domain.errors import Invalid, NotFound

SEND_RATE = "send_rate_per_second"  # every channel's: the most sends a second through this inbox


def configure(adapter: Any, settings: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The adapter checks its channel's settings; the send rate, common to all, is checked here."""
    settings = dict(settings)
    rate = settings.pop(SEND_RATE, None)
    address, clean = adapter.configure(settings)
    if rate not in (None, ""):
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            rate = 0.0
        if not 0 < rate <= 10_000:
            raise Invalid(f"{SEND_RATE} must be a number of sends per second above 0", "invalid_send_rate")
        clean[SEND_RATE] = rate
    return address, clean


def adapter_for(registry: Registry, kind: str) -> Any:
    if not registry.supports(kind):
        raise Invalid(f"{kind!r} inboxes are not supported (yet)", "unsupported_kind")
    return registry.get(kind)


async def setup_inbox(ctx: Context, registry: Registry, kind: str, name: str,
                      settings: dict[str, Any]) -> dict[str, Any]:
    """Check the settings with the adapter, store the inbox, then have the adapter register
    its webhook with the provider where the provider's API allows; if the provider refuses,
    the inbox is removed again and the provider's reason is the error."""
    adapter = adapter_for(registry, kind)
    address, clean = configure(adapter, settings)
    inbox: dict[str, Any] = await ctx.db.write(
        lambda tx: actions.create_inbox(tx, kind=kind, name=name, address=address, settings=clean))
    try:
        await registry.register_webhook(inbox)
    except SendError as exc:
        await ctx.db.write(lambda tx: actions.discard_inbox(tx, inbox["id"]))
        raise Invalid(f"the provider refused to register the webhook: {exc.message}", "registration_failed") from None
    return inbox


async def reconfigure_inbox(ctx: Context, registry: Registry, inbox_id: int, name: str | None,
                            patch: dict[str, Any] | None) -> dict[str, Any]:
    """``patch`` is merged into the stored settings (a None value removes a key) and the
    result checked by the adapter; the webhook is registered again if the settings changed."""
    current = await ctx.db.read(lambda c: queries.get_inbox(c, inbox_id))
    if current is None:
        raise NotFound("no such inbox")
    address = settings = None
    adapter = adapter_for(registry, current["kind"])
    if patch is not None:
        merged = {k: v for k, v in {**current["settings"], **patch}.items() if v is not None}
        address, settings = configure(adapter, merged)
    inbox: dict[str, Any] = await ctx.db.write(
        lambda tx: actions.update_inbox(tx, inbox_id, name=name, address=address, settings=settings))
    if settings is not None and settings != current["settings"]:
        try:
            await registry.register_webhook(inbox)
        except SendError as exc:
            raise Invalid(f"saved, but the provider refused to register the webhook: {exc.message}",
                          "registration_failed") from None
    return inbox


def describe(registry: Registry, inbox: dict[str, Any]) -> dict[str, Any]:
    """An inbox for the API and CLI: secrets masked, and the URLs to give the provider."""
    # An inbox of a kind no longer served has no declaration to say which are secret: all are.
    secrets = registry.secret_settings() if registry.supports(inbox["kind"]) else set(inbox["settings"])
    out: dict[str, Any] = {**serialize.inbox_dict(inbox, secrets)}
    out["webhook_urls"] = registry.get(inbox["kind"]).webhook_urls(inbox) if registry.supports(inbox["kind"]) else {}
    return out
