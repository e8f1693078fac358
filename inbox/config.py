"""Settings, read once from INBOX_* environment variables (documented in docs/configuration.md)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from inbox.domain.errors import InboxError


def _flag(name: str, default: bool) -> bool:
    return _env(name, "1" if default else "0").strip().lower() not in ("0", "false", "no", "off")


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
    # At most one automatic reply (out of office, acknowledgement) per conversation this often.
    auto_reply_interval_hours: float = 24.0
    # Campaigns' frequency caps: marketing messages a contact may get per rolling day and week.
    marketing_cap_per_day: int = 1
    marketing_cap_per_week: int = 3
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
    email_dkim_resolver: str = ""  # DKIM key lookups: "" the system's resolver, "host[:port]", or "off"
    # Reading a mail (webhooks/email/pool.py): worker processes, and the seconds each mail may take.
    email_parse_workers: int = 2
    email_parse_seconds: float = 20.0
    redis_url: str = ""  # set: the event bus is Redis, shared by every process
    media_dir: str = "./data/media"
    max_media_bytes: int = 25 * 1024 * 1024
    # Comma-separated origins attachment downloads may reach on private addresses (webhooks/download.py).
    private_media_origins: str = ""
    log_level: str = "info"
    # Failed logins allowed per (client address, email) within the window; then 429 until it passes.
    login_attempts: int = 10
    login_window_seconds: float = 900.0
    # Failed logins allowed per email from any addresses within the window (a guesser with many addresses).
    login_account_attempts: int = 30
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDR
    # networks, comma-separated); none by default: the client is whoever connected.
    trusted_proxies: str = ""
    # A request's line and headers must arrive within this many seconds (ui/protocol.py).
    header_timeout_seconds: float = 10.0
    # Replying to an unassigned conversation assigns it to whoever replied.
    assign_on_reply: bool = True
    # Routing (docs/routing.md): an agent with no socket open for this long is offline...
    presence_grace_seconds: float = 60.0
    # ... and a routing pass runs at least this often (besides on every event that may matter).
    routing_interval_seconds: float = 5.0
    # Outbound webhooks (docs/webhooks.md): the first retry's delay (each next one doubles),
    # and whether endpoints may be on private or loopback addresses.
    webhook_retry_base_seconds: float = 5.0
    webhooks_allow_private: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        key = _env("SECRET_KEY", "")
        if not key:
            key = _persistent_dev_key()
        d = cls(secret_key=key)
        return cls(
            database_url=_env("DATABASE_URL", d.database_url),
            public_url=checked_public_url(_env("PUBLIC_URL", d.public_url)),
            secret_key=key,
            twilio_api_base=_env("TWILIO_API_BASE", d.twilio_api_base).rstrip("/"),
            graph_api_base=_env("GRAPH_API_BASE", d.graph_api_base).rstrip("/"),
            graph_api_version=_env("GRAPH_API_VERSION", d.graph_api_version),
            telegram_api_base=_env("TELEGRAM_API_BASE", d.telegram_api_base).rstrip("/"),
            reopen_days=float(_env("REOPEN_DAYS", str(d.reopen_days))),
            auto_reply_interval_hours=_hours("AUTO_REPLY_INTERVAL", d.auto_reply_interval_hours),
            marketing_cap_per_day=int(_env("MARKETING_CAP_PER_DAY", str(d.marketing_cap_per_day))),
            marketing_cap_per_week=int(_env("MARKETING_CAP_PER_WEEK", str(d.marketing_cap_per_week))),
            event_retention_days=float(_env("EVENT_RETENTION_DAYS", str(d.event_retention_days))),
            max_body_bytes=int(_env("MAX_BODY_BYTES", str(d.max_body_bytes))),
            retry_base_seconds=float(_env("RETRY_BASE_SECONDS", str(d.retry_base_seconds))),
            retry_max_seconds=float(_env("RETRY_MAX_SECONDS", str(d.retry_max_seconds))),
            max_attempts=int(_env("MAX_ATTEMPTS", str(d.max_attempts))),
            send_timeout_seconds=float(_env("SEND_TIMEOUT_SECONDS", str(d.send_timeout_seconds))),
            run_worker=_flag("RUN_WORKER", True),
            ws_queue_size=int(_env("WS_QUEUE_SIZE", str(d.ws_queue_size))),
            smtp_listen=_env("SMTP_LISTEN", d.smtp_listen),
            max_email_bytes=int(_env("MAX_EMAIL_BYTES", str(d.max_email_bytes))),
            email_dkim_resolver=_env("EMAIL_DKIM_RESOLVER", d.email_dkim_resolver).strip(),
            email_parse_workers=int(_env("EMAIL_PARSE_WORKERS", str(d.email_parse_workers))),
            email_parse_seconds=float(_env("EMAIL_PARSE_SECONDS", str(d.email_parse_seconds))),
            redis_url=_env("REDIS_URL", d.redis_url),
            media_dir=_env("MEDIA_DIR", d.media_dir),
            max_media_bytes=int(_env("MAX_MEDIA_BYTES", str(d.max_media_bytes))),
            private_media_origins=_env("PRIVATE_MEDIA_ORIGINS", d.private_media_origins),
            log_level=_env("LOG_LEVEL", d.log_level),
            login_attempts=int(_env("LOGIN_ATTEMPTS", str(d.login_attempts))),
            login_window_seconds=float(_env("LOGIN_WINDOW_SECONDS", str(d.login_window_seconds))),
            login_account_attempts=int(_env("LOGIN_ACCOUNT_ATTEMPTS", str(d.login_account_attempts))),
            trusted_proxies=",".join(p.strip() for p in _env("TRUSTED_PROXIES", "").split(",") if p.strip()),
            header_timeout_seconds=float(_env("HEADER_TIMEOUT_SECONDS", str(d.header_timeout_seconds))),
            assign_on_reply=_flag("ASSIGN_ON_REPLY", d.assign_on_reply),
            presence_grace_seconds=float(_env("PRESENCE_GRACE_SECONDS", str(d.presence_grace_seconds))),
            routing_interval_seconds=float(_env("ROUTING_INTERVAL_SECONDS", str(d.routing_interval_seconds))),
            webhook_retry_base_seconds=_seconds("WEBHOOK_RETRY_BASE_SECONDS", d.webhook_retry_base_seconds),
            webhooks_allow_private=_flag("WEBHOOKS_ALLOW_PRIVATE", d.webhooks_allow_private),
        )


def _hours(name: str, default: float) -> float:
    """A positive number of hours ("24", "0.5"), or an error at start naming the variable."""
    return _positive(name, default, "hours", "24")


def _seconds(name: str, default: float) -> float:
    return _positive(name, default, "seconds", "5")


def _positive(name: str, default: float, unit: str, example: str) -> float:
    value = _env(name, str(default)).strip()
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number < float("inf"):
        raise InboxError(f"INBOX_{name}={value!r} must be a number of {unit} above 0, e.g. {example}",
                         "invalid_setting")
    return number


def checked_public_url(value: str) -> str:
    """INBOX_PUBLIC_URL without its trailing slash, or an error at start: providers sign the
    URL they post to, and the request path is appended to this value to check it, so a query
    or fragment here (or a missing scheme or host) would make every signature fail silently."""
    url = value.strip().rstrip("/")
    problem = _public_url_problem(url)
    if problem:
        raise InboxError(f"INBOX_PUBLIC_URL={value!r} {problem}: give the scheme, host, port and any path prefix "
                         "at which providers reach this server, e.g. https://inbox.example.com", "invalid_setting")
    return url


def _public_url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # a malformed host or port raises
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not host:
        return "has no host"
    if "?" in url:
        return "must not have a query string (?...)"
    if "#" in url:
        return "must not have a fragment (#...)"
    return None


def _persistent_dev_key() -> str:
    """Without INBOX_SECRET_KEY, keep a generated key beside the default database so
    session cookies survive a restart of a development install. The file is created 0600
    (and its directory 0700) from the start, never readable by others even briefly."""
    path = Path("data/secret_key")
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(key)
        return key
