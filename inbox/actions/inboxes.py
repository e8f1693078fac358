"""Setting up and changing inboxes through their channel adapter: the one path the REST
API and the CLI share."""

from __future__ import annotations

from typing import Any

from inbox import actions, queries
from inbox.actions.context import Context
from inbox.domain import campaigns, serialize
from inbox.domain.channels import Registry, SendError
from inbox.domain.errors import Invalid, NotFound

SEND_RATE = "send_rate_per_second"  # every channel's: the most sends a second through this inbox


def configure(adapter: Any, settings: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The adapter checks its channel's settings; the send rate and the channel fallback,
    common to all, are checked here (the fallback's inbox by ``_check_fallback``)."""
    settings = dict(settings)
    rate = settings.pop(SEND_RATE, None)
    fallback = campaigns.fallback_settings(settings)
    address, clean = adapter.configure(settings)
    clean.update(fallback)
    if rate not in (None, ""):
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            rate = 0.0
        if not 0 < rate <= 10_000:
            raise Invalid(f"{SEND_RATE} must be a number of sends per second above 0", "invalid_send_rate")
        clean[SEND_RATE] = rate
    return address, clean


async def _check_fallback(ctx: Context, inbox_id: int | None, kind: str, settings: dict[str, Any]) -> None:
    """An inbox falls back to another inbox, of another channel (the same content through
    the same channel again would fail the same way)."""
    target_id = settings.get(campaigns.FALLBACK_INBOX)
    if target_id is None:
        return
    target = await ctx.db.read(lambda c: queries.get_inbox(c, target_id))
    if target is None or target_id == inbox_id:
        raise Invalid(f"{campaigns.FALLBACK_INBOX}: no other inbox {target_id}", "invalid_fallback")
    if target["kind"] == kind:
        raise Invalid(f"{campaigns.FALLBACK_INBOX}: inbox {target_id} is of the same channel ({kind}); "
                      "fall back to another channel", "invalid_fallback")


COMMON = (SEND_RATE, campaigns.FALLBACK_INBOX, campaigns.FALLBACK_MINUTES)  # no adapter's settings


def _channel_part(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings the provider is told about: a changed send rate or fallback is ours alone."""
    return {k: v for k, v in settings.items() if k not in COMMON}


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
    await _check_fallback(ctx, None, kind, clean)
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
        await _check_fallback(ctx, inbox_id, current["kind"], settings)
    inbox: dict[str, Any] = await ctx.db.write(
        lambda tx: actions.update_inbox(tx, inbox_id, name=name, address=address, settings=settings))
    if settings is not None and _channel_part(settings) != _channel_part(current["settings"]):
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
