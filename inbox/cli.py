"""The ``inbox`` command: serve, the delivery worker, schema upgrades, and the admin tasks an
operator needs before the UI exists."""

from __future__ import annotations

import argparse
import asyncio
import copy
import getpass
import json
import logging
import logging.config
import os
import secrets
import signal
import sys
from typing import Any

from sqlalchemy.engine import make_url

from inbox import actions, compose, queries, redact
from inbox.config import Settings
from inbox.domain.credentials import hash_password
from inbox.domain.errors import InboxError
from inbox.storage.db import sync_url


# Lines libraries log at info on every start or every mail that tell an operator nothing (shown
# with INBOX_LOG_LEVEL=debug): alembic's plugin set-up and dialect notes (its "Running upgrade"
# lines stay), and aiosmtpd's per-session chatter (peer, each command, "connection lost"),
# which would also put every sender's address in the log.
_QUIET_LOGGERS = ("alembic.runtime.plugins", "mail.log")
_DIALECT_NOTES = ("Context impl ", "Will assume ")  # alembic.runtime.migration, at every migration check


class DialectNotes(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_DIALECT_NOTES)


def log_config(settings: Settings) -> dict[str, Any]:
    """One logging set-up for every process: applied here, and handed to uvicorn, which applies
    it again in each worker process it spawns (basicConfig in this process would not reach
    them: their app logs were lost)."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)  # uvicorn's own loggers, as it sets them
    level = settings.log_level.upper()
    config["formatters"]["inbox"] = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    config["handlers"]["inbox"] = {"class": "logging.StreamHandler", "formatter": "inbox",
                                   "stream": "ext://sys.stderr"}
    config["root"] = {"handlers": ["inbox"], "level": level}
    if level != "DEBUG":
        config["filters"] = {"dialect_notes": {"()": DialectNotes}}
        config["loggers"].update({name: {"level": "WARNING"} for name in _QUIET_LOGGERS})
        config["loggers"]["alembic.runtime.migration"] = {"filters": ["dialect_notes"]}
    return config


def _logging(settings: Settings) -> None:
    redact.install()  # no credential in any log line (inbox/redact.py)
    logging.config.dictConfig(log_config(settings))


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
    check_workers(settings, args.workers)
    _logging(settings)
    # Once here, before the workers start (each also checks, under a lock, and finds it done).
    compose.database(settings).stop()
    compose.serve(settings, host=args.host, port=args.port, workers=args.workers, access_log=args.access_log,
                  log_config=log_config(settings))
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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with compose.process(settings).delivering():
        await stop.wait()


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from inbox.storage import migrate

    db = compose.database(settings)
    print(migrate.current(db.engine))
    db.stop()
    return 0


def cmd_db_seed(args: argparse.Namespace, settings: Settings) -> int:
    from inbox.storage.seed import seed

    db = compose.database(settings)
    try:
        result = seed(db.engine, conversations=args.conversations, messages=args.messages,
                      random_seed=args.random_seed, progress=lambda line: print(line, file=sys.stderr))
    except ValueError as exc:
        raise InboxError(str(exc)) from None
    finally:
        db.stop()
    print(json.dumps(result.as_dict()))
    return 0


def cmd_reports_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Recompute every report fact from the stored timeline (docs/metrics.md), a batch of
    conversations a transaction, so a running server's writes wait a moment, not the whole."""
    from inbox.actions.reports import rebuild

    db = compose.database(settings)
    try:
        conversations, facts = rebuild(db, progress=lambda line: print(line, file=sys.stderr))
    finally:
        db.stop()
    print(json.dumps({"conversations": conversations, "facts": facts}))
    return 0


def cmd_user_create(args: argparse.Namespace, settings: Settings) -> int:
    password, generated = _new_password(args)
    if len(password) < 8:
        raise InboxError("password must be at least 8 characters")
    pw_hash = hash_password(password)
    name = args.name or args.email.partition("@")[0]
    user = compose.database(settings).write_sync(lambda tx: actions.create_user(
        tx, email=args.email, name=name, role=args.role, password_hash=pw_hash))
    if generated:
        print(f"password for {user['email']} (shown once; change it after logging in): {password}", file=sys.stderr)
    print(json.dumps(user))
    return 0


def _new_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new user's password and whether it was generated: from the first line of stdin
    (--password-stdin, for scripts), asked for twice at a terminal, or else generated and
    shown once (``docker compose exec -T``, no terminal). Never from the command line, where
    every user of the machine sees it in ps, except through the old flag, with a warning."""
    if args.password is not None:
        _warn_visible("--password", "--password-stdin, or run in a terminal to be asked")
        return args.password, False
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise InboxError("the two passwords differ")
        return password, False
    return secrets.token_urlsafe(12), True


def _warn_visible(flag: str, instead: str) -> None:
    print(f"warning: {flag} puts the secret on the command line, where other users of this machine can read it "
          f"(ps, /proc); use {instead}", file=sys.stderr)


def secret_env(flag: str) -> str:
    return "INBOX_" + flag.upper().replace("-", "_")


def _secret_option(flag: str, value: str | None, required: bool, help_text: str) -> str | None:
    """A channel secret for ``inbox inbox create``: the environment variable named after the
    flag (INBOX_AUTH_TOKEN for --auth-token), else asked for at a terminal when required."""
    env = secret_env(flag)
    if value is not None:
        _warn_visible(f"--{flag}", f"{env}=... in the environment, or run in a terminal to be asked")
        return value
    if os.environ.get(env):
        return os.environ[env]
    if not required:
        return None
    if not sys.stdin.isatty():
        raise InboxError(f"--{flag} ({help_text}) is required: set {env}, or run in a terminal to be asked")
    return getpass.getpass(f"{flag.replace('-', ' ')} ({help_text}): ") or None


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    db = compose.database(settings)
    user = db.read_sync(lambda c: queries.get_user_by_email(c, args.email))
    if user is None:
        raise InboxError(f"no user with email {args.email}")
    print(db.write_sync(lambda tx: actions.create_token(tx, user["id"], args.name or "cli")))
    return 0


def cmd_inbox_create(args: argparse.Namespace, settings: Settings) -> int:
    from inbox.actions.inboxes import describe, setup_inbox

    registry = compose.channels(settings)
    settings_in: dict[str, Any] = {}
    for option in registry.channel(args.kind).settings:
        value = getattr(args, option.flag.replace("-", "_"))
        if option.secret:
            value = _secret_option(option.flag, value, option.required, option.help)
        if value is not None:
            settings_in[option.key] = value

    async def create() -> dict[str, Any]:
        ctx = compose.context(settings, compose.database(settings), registry)
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

    reports = sub.add_parser("reports", help="report figures").add_subparsers(dest="action", required=True)
    rb = reports.add_parser("rebuild", help="recompute every report fact from the stored timeline (after an "
                                            "upgrade, or to check); prints a JSON summary")
    rb.set_defaults(func=cmd_reports_rebuild)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    uc = user.add_parser("create", help="create a user")
    uc.add_argument("--email", required=True)
    uc.add_argument("--name", default="", help="shown to colleagues; default: the part of the email before the @")
    uc.add_argument("--role", choices=["agent", "lead", "admin"], default="agent")
    uc.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin "
                    "(without it: asked for at a terminal, else generated and printed once on stderr)")
    uc.add_argument("--password", help=argparse.SUPPRESS)  # visible in ps: kept for old scripts, with a warning
    uc.set_defaults(func=cmd_user_create)

    token = sub.add_parser("token", help="manage API tokens").add_subparsers(dest="action", required=True)
    tc = token.add_parser("create", help="create an API token; prints only the token")
    tc.add_argument("--email", required=True)
    tc.add_argument("--name", default="cli")
    tc.set_defaults(func=cmd_token_create)

    inbox = sub.add_parser("inbox", help="manage inboxes").add_subparsers(dest="action", required=True)
    ic = inbox.add_parser("create", help="create an inbox").add_subparsers(dest="kind", required=True)
    for channel in compose.declared_channels():  # the declarations alone: no adapter built, no SDK imported
        kp = ic.add_parser(channel.kind, help=f"a {channel.kind} inbox")
        kp.add_argument("--name", required=True)
        for option in channel.settings:
            if option.secret:  # from the environment or a prompt, not from ps
                kp.add_argument(f"--{option.flag}", help=f"{option.help}; secret: give it in "
                                f"{secret_env(option.flag)} or at the prompt (the flag works but shows it to "
                                "other users in ps)")
            else:
                kp.add_argument(f"--{option.flag}", required=option.required, help=option.help)
        kp.set_defaults(func=cmd_inbox_create)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Whatever this process creates (the database and its -wal/-shm, the secret key, media
    # files and their folders) holds customer data or secrets: this user's alone.
    os.umask(0o077)
    try:
        settings = Settings.from_env()
        return int(args.func(args, settings))
    except InboxError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
