"""Settings, read once from INBOX_* environment variables (documented in docs/configuration.md)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(f"INBOX_{name}", default)


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///./data/inbox.db"
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    twilio_api_base: str = "https://api.twilio.com"
    graph_api_base: str = "https://graph.facebook.com"  # WhatsApp Cloud API and Messenger
    graph_api_version: str = "v23.0"
    telegram_api_base: str = "https://api.telegram.org"
    reopen_days: float = 7.0
    event_retention_days: float = 7.0
    max_body_bytes: int = 1_048_576
    # Delivery worker: exponential backoff base and cap (seconds), and attempts before a message fails.
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    max_attempts: int = 8
    send_timeout_seconds: float = 15.0
    run_worker: bool = True
    ws_queue_size: int = 1000
    smtp_listen: str = "127.0.0.1:2525"  # the built-in SMTP receiver for email inboxes
    max_email_bytes: int = 25 * 1024 * 1024
    # Reading a mail (webhooks/email/pool.py): worker processes, and the seconds each mail may take.
    email_parse_workers: int = 2
    email_parse_seconds: float = 20.0
    redis_url: str = ""  # set: the event bus is Redis, shared by every process
    media_dir: str = "./data/media"
    max_media_bytes: int = 25 * 1024 * 1024
    log_level: str = "info"
    # Failed logins allowed per (client address, email) within the window; then 429 until it passes.
    login_attempts: int = 10
    login_window_seconds: float = 900.0

    @classmethod
    def from_env(cls) -> Settings:
        key = _env("SECRET_KEY", "")
        if not key:
            key = _persistent_dev_key()
        d = cls(secret_key=key)
        return cls(
            database_url=_env("DATABASE_URL", d.database_url),
            public_url=_env("PUBLIC_URL", d.public_url).rstrip("/"),
            secret_key=key,
            twilio_api_base=_env("TWILIO_API_BASE", d.twilio_api_base).rstrip("/"),
            graph_api_base=_env("GRAPH_API_BASE", d.graph_api_base).rstrip("/"),
            graph_api_version=_env("GRAPH_API_VERSION", d.graph_api_version),
            telegram_api_base=_env("TELEGRAM_API_BASE", d.telegram_api_base).rstrip("/"),
            reopen_days=float(_env("REOPEN_DAYS", str(d.reopen_days))),
            event_retention_days=float(_env("EVENT_RETENTION_DAYS", str(d.event_retention_days))),
            max_body_bytes=int(_env("MAX_BODY_BYTES", str(d.max_body_bytes))),
            retry_base_seconds=float(_env("RETRY_BASE_SECONDS", str(d.retry_base_seconds))),
            retry_max_seconds=float(_env("RETRY_MAX_SECONDS", str(d.retry_max_seconds))),
            max_attempts=int(_env("MAX_ATTEMPTS", str(d.max_attempts))),
            send_timeout_seconds=float(_env("SEND_TIMEOUT_SECONDS", str(d.send_timeout_seconds))),
            run_worker=_env("RUN_WORKER", "1").strip().lower() not in ("0", "false", "no", "off"),
            ws_queue_size=int(_env("WS_QUEUE_SIZE", str(d.ws_queue_size))),
            smtp_listen=_env("SMTP_LISTEN", d.smtp_listen),
            max_email_bytes=int(_env("MAX_EMAIL_BYTES", str(d.max_email_bytes))),
            email_parse_workers=int(_env("EMAIL_PARSE_WORKERS", str(d.email_parse_workers))),
            email_parse_seconds=float(_env("EMAIL_PARSE_SECONDS", str(d.email_parse_seconds))),
            redis_url=_env("REDIS_URL", d.redis_url),
            media_dir=_env("MEDIA_DIR", d.media_dir),
            max_media_bytes=int(_env("MAX_MEDIA_BYTES", str(d.max_media_bytes))),
            log_level=_env("LOG_LEVEL", d.log_level),
            login_attempts=int(_env("LOGIN_ATTEMPTS", str(d.login_attempts))),
            login_window_seconds=float(_env("LOGIN_WINDOW_SECONDS", str(d.login_window_seconds))),
        )


def _persistent_dev_key() -> str:
    """Without INBOX_SECRET_KEY, keep a generated key beside the default database so
    session cookies survive a restart of a development install."""
    path = Path("data/secret_key")
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        path.write_text(key)
        path.chmod(0o600)
        return key
