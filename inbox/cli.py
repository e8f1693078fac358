"""The ``inbox`` command: serve, the delivery worker, schema upgrades, and the admin tasks an
operator needs before the UI exists."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import signal
import sys
from typing import Any

from sqlalchemy.engine import make_url

from inbox import redact, services, store
from inbox.auth import hash_password
from inbox.config import Settings
from inbox.db import Database, sync_url
from inbox.errors import InboxError


def _db(settings: Settings) -> Database:
    db = Database(settings.database_url)
    db.migrate()
    return db


def _logging(settings: Settings) -> None:
    redact.install()  # no credential in any log line (inbox/redact.py)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def check_workers(settings: Settings, workers: int) -> None:
    """Several processes need a database that takes concurrent writers and a shared bus."""
    if workers < 1:
        raise InboxError("--workers must be at least 1")
    if workers == 1:
        return
    if make_url(sync_url(settings.database_url)).get_backend_name() == "sqlite":
        raise InboxError("--workers > 1 needs PostgreSQL (INBOX_DATABASE_URL=postgresql://...): SQLite admits one "
                         "writer at a time, so more processes add lock waits, not throughput, and each process's "
                         "live events would reach only its own sockets")
    if not settings.redis_url:
        raise InboxError("--workers > 1 needs INBOX_REDIS_URL: without the shared event bus an agent would see "
                         "only the events of the process their WebSocket landed on")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    check_workers(settings, args.workers)
    _logging(settings)
    # Once here, before the workers start (each also checks, under a lock, and finds it done).
    _db(settings).stop()
    uvicorn.run("ui.app:create_app", factory=True, host=args.host, port=args.port, loop="uvloop", http="httptools",
                workers=args.workers if args.workers > 1 else None,
                access_log=args.access_log, log_level=settings.log_level,
                # X-Forwarded-* only from INBOX_TRUSTED_PROXIES (uvicorn's own default trusts
                # 127.0.0.1, so a local caller could pick its address for the login throttle).
                proxy_headers=bool(settings.trusted_proxies), forwarded_allow_ips=settings.trusted_proxies or None,
                # flow-controlled sends (a stalled client backs up into its bounded queue), and
                # no per-message deflate: it costs 1.5-2x CPU per frame (PERFORMANCE.md).
                ws="websockets-sansio", ws_per_message_deflate=False)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """The delivery worker alone: for hosts that send while others serve HTTP
    (INBOX_RUN_WORKER=0 there). Any number may run: each job is claimed by one."""
    _logging(settings)
    if not settings.redis_url:
        logging.getLogger("inbox.worker").warning(
            "INBOX_REDIS_URL is not set: agents will not see delivery updates live, and new replies wait for the "
            "worker's next poll (up to 5 s)")
    asyncio.run(_run_worker(settings))
    return 0


async def _run_worker(settings: Settings) -> None:
    from inbox.channels import ReplyWindow
    from inbox.delivery import DeliveryWorker
    from inbox.events import may_queue_delivery
    from inbox.media import MediaStore
    from inbox.redisbus import make_bus
    from webhooks.registry import build_registry

    db = Database(settings.database_url)
    await asyncio.to_thread(db.migrate)
    bus = make_bus(settings)
    registry = build_registry(settings)
    ctx = services.Context(db=db, settings=settings, bus=bus,
                           media=MediaStore(settings.media_dir, settings.max_media_bytes),
                           reply_windows={kind: ReplyWindow(a.reply_window, a.supports_templates)
                                          for kind in registry.kinds()
                                          if (a := registry.get(kind)).reply_window is not None})
    worker = DeliveryWorker(ctx, registry)
    ctx.wake_delivery = worker.wake
    bus.subscribe(lambda event: worker.wake() if may_queue_delivery(event) else None)
    await bus.start(db)
    db.on_commit = bus.publish_committed
    db.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(worker.run())
    logging.getLogger("inbox.worker").info("delivery worker running")
    try:
        await stop.wait()
    finally:
        await worker.stop()  # lets the sends in flight finish and record their outcome
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await registry.aclose()
        await bus.stop()  # first: no more reads from it once the database closes
        await asyncio.to_thread(db.stop)


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from inbox import migrate

    db = _db(settings)
    print(migrate.current(db.engine))
    db.stop()
    return 0


def cmd_db_seed(args: argparse.Namespace, settings: Settings) -> int:
    from inbox.seed import seed

    db = _db(settings)
    try:
        result = seed(db.engine, conversations=args.conversations, messages=args.messages,
                      random_seed=args.random_seed, progress=lambda line: print(line, file=sys.stderr))
    except ValueError as exc:
        raise InboxError(str(exc)) from None
    finally:
        db.stop()
    print(json.dumps(result.as_dict()))
    return 0


def cmd_user_create(args: argparse.Namespace, settings: Settings) -> int:
    password = args.password or getpass.getpass("password: ")
    if len(password) < 8:
        raise InboxError("password must be at least 8 characters")
    pw_hash = hash_password(password)
    user = _db(settings).write_sync(lambda tx: services.create_user(
        tx, email=args.email, name=args.name or "", role=args.role, password_hash=pw_hash))
    print(json.dumps(user))
    return 0


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    db = _db(settings)
    user = db.read_sync(lambda c: store.get_user_by_email(c, args.email))
    if user is None:
        raise InboxError(f"no user with email {args.email}")
    print(db.write_sync(lambda tx: services.create_token(tx, user["id"], args.name or "cli")))
    return 0


def cmd_inbox_create(args: argparse.Namespace, settings: Settings) -> int:
    from inbox.inboxes import describe, setup_inbox
    from webhooks.registry import build_registry

    registry = build_registry(settings)
    options = registry.get(args.kind).cli_options
    settings_in = {key: getattr(args, flag.replace("-", "_")) for flag, (key, _, _) in options.items()
                   if getattr(args, flag.replace("-", "_")) is not None}

    async def create() -> dict[str, Any]:
        ctx = services.Context(db=_db(settings), settings=settings)
        try:
            return await setup_inbox(ctx, registry, args.kind, args.name, settings_in)
        finally:
            await registry.aclose()
    inbox = asyncio.run(create())
    print(json.dumps(describe(registry, inbox), default=str))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inbox", description="Unified conversational inbox.")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the web app, webhooks, API and delivery worker")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--access-log", action="store_true", help="log every request (off: it costs ~40%% of ingest)")
    serve.add_argument("--workers", type=int, default=1,
                       help="processes behind the one port (> 1 needs PostgreSQL and INBOX_REDIS_URL)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run only the delivery worker (sends replies, fetches media)")
    worker.set_defaults(func=cmd_worker)

    db = sub.add_parser("db", help="manage the database schema").add_subparsers(dest="action", required=True)
    up = db.add_parser("upgrade", help="apply every pending migration; prints the revision now current")
    up.set_defaults(func=cmd_db_upgrade)
    sd = db.add_parser("seed", help="fill the database with generated conversations and messages, for "
                                    "benchmarks and demos (never production); prints a JSON summary")
    sd.add_argument("--conversations", type=int, default=1000)
    sd.add_argument("--messages", type=int, default=10000, help="in all; one conversation gets 5,000 of them")
    sd.add_argument("--random-seed", type=int, default=7)
    sd.set_defaults(func=cmd_db_seed)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    uc = user.add_parser("create", help="create a user")
    uc.add_argument("--email", required=True)
    uc.add_argument("--name", default="")
    uc.add_argument("--role", choices=["agent", "lead", "admin"], default="agent")
    uc.add_argument("--password", help="prompted for when omitted")
    uc.set_defaults(func=cmd_user_create)

    token = sub.add_parser("token", help="manage API tokens").add_subparsers(dest="action", required=True)
    tc = token.add_parser("create", help="create an API token; prints only the token")
    tc.add_argument("--email", required=True)
    tc.add_argument("--name", default="cli")
    tc.set_defaults(func=cmd_token_create)

    inbox = sub.add_parser("inbox", help="manage inboxes").add_subparsers(dest="action", required=True)
    ic = inbox.add_parser("create", help="create an inbox").add_subparsers(dest="kind", required=True)
    from webhooks.registry import build_registry

    registry = build_registry(Settings())  # every channel that has an adapter gets a subcommand
    for kind in registry.kinds():
        adapter = registry.get(kind)
        kp = ic.add_parser(kind.value, help=f"a {kind.value} inbox")
        kp.add_argument("--name", required=True)
        for flag, (_, required, help_text) in adapter.cli_options.items():
            kp.add_argument(f"--{flag}", required=required, help=help_text)
        kp.set_defaults(func=cmd_inbox_create)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        return int(args.func(args, settings))
    except InboxError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
