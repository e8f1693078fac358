"""Settings from the environment, and the CLI that reads them in its own process."""

from __future__ import annotations

import json
import os
import pty
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from inbox.config import Settings
from inbox.domain.credentials import verify_password
from inbox.domain.errors import InboxError
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN

CLI = [sys.executable, "-m", "inbox.cli"]


@pytest.mark.parametrize("value, on", [("0", False), ("False", False), ("NO", False), (" off ", False),
                                       ("1", True), ("TRUE", True), ("yes", True)])
def test_run_worker_is_read_case_insensitively(value: str, on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOX_SECRET_KEY", "k")
    monkeypatch.setenv("INBOX_RUN_WORKER", value)
    assert Settings.from_env().run_worker is on


def test_outbound_webhook_settings_default_to_5_seconds_and_no_private_addresses(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOX_SECRET_KEY", "k")
    settings = Settings.from_env()
    assert settings.webhook_retry_base_seconds == 5.0 and settings.webhooks_allow_private is False
    monkeypatch.setenv("INBOX_WEBHOOK_RETRY_BASE_SECONDS", "0.5")
    monkeypatch.setenv("INBOX_WEBHOOKS_ALLOW_PRIVATE", "1")
    settings = Settings.from_env()
    assert settings.webhook_retry_base_seconds == 0.5 and settings.webhooks_allow_private is True
    for bad in ("0", "-5", "soon", "inf"):
        monkeypatch.setenv("INBOX_WEBHOOK_RETRY_BASE_SECONDS", bad)
        with pytest.raises(InboxError, match="INBOX_WEBHOOK_RETRY_BASE_SECONDS=.* must be a number of seconds above 0"):
            Settings.from_env()


def test_cli_inbox_reads_national_numbers_in_the_default_region_and_prints_webhook_urls(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "INBOX_PUBLIC_URL": "https://inbox.example.com/", "INBOX_DEFAULT_REGION": "gb",
           "INBOX_AUTH_TOKEN": AUTH_TOKEN}
    out = subprocess.run([*CLI, "inbox", "create", "sms", "--name", "London", "--phone", "020 7946 0018",
                          "--account-sid", ACCOUNT_SID],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""  # no warning: the token came from the environment
    inbox = json.loads(out.stdout)
    assert inbox["address"] == "+442079460018"
    assert inbox["webhook_urls"] == {"messaging": "https://inbox.example.com/webhooks/twilio",
                                     "status_callback": "https://inbox.example.com/webhooks/twilio/status"}

    assert _stored_settings(tmp_path)["auth_token"] == AUTH_TOKEN


def _env(tmp: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("INBOX_")},
            "INBOX_DATABASE_URL": f"sqlite:///{tmp}/inbox.db", "INBOX_SECRET_KEY": "k"}


def _stored_settings(tmp: Path) -> dict[str, str]:
    with sqlite3.connect(tmp / "inbox.db") as conn:
        (settings,) = conn.execute("SELECT settings FROM inbox").fetchone()
    return dict(json.loads(settings))


def _password_hash(tmp: Path, email: str) -> str:
    with sqlite3.connect(tmp / "inbox.db") as conn:
        (pw_hash,) = conn.execute("SELECT password_hash FROM user WHERE email = ?", (email,)).fetchone()
    return str(pw_hash)


def _run(tmp: Path, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env={**_env(tmp), **env}, cwd=tmp, capture_output=True, text=True,
                          timeout=60, input=stdin, stdin=subprocess.DEVNULL if stdin is None else None)


@pytest.mark.parametrize("url, problem", [
    ("https://inbox.example.com/?x=1", "must not have a query string"),
    ("https://inbox.example.com?", "must not have a query string"),
    ("https://inbox.example.com/#top", "must not have a fragment"),
    ("inbox.example.com", "must start with http:// or https://"),
    ("ftp://inbox.example.com", "must start with http:// or https://"),
    ("https://", "has no host"),
    ("https://:8443/inbox", "has no host"),
    ("https://inbox.example.com:port", "is not a URL"),
])
def test_a_public_url_that_would_break_every_signature_is_refused(url: str, problem: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOX_SECRET_KEY", "k")
    monkeypatch.setenv("INBOX_PUBLIC_URL", url)
    with pytest.raises(InboxError, match=problem):
        Settings.from_env()


@pytest.mark.parametrize("url, kept", [("https://inbox.example.com/", "https://inbox.example.com"),
                                       ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
                                       (" https://example.com/inbox/ ", "https://example.com/inbox")])
def test_a_public_url_with_a_path_prefix_or_port_is_kept(url: str, kept: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOX_SECRET_KEY", "k")
    monkeypatch.setenv("INBOX_PUBLIC_URL", url)
    assert Settings.from_env().public_url == kept


def test_serve_refuses_to_start_with_a_query_in_the_public_url(tmp_path: Path) -> None:
    out = _run(tmp_path, "serve", "--port", "9", INBOX_PUBLIC_URL="https://inbox.example.com/hooks?token=abc")
    assert out.returncode == 1
    assert "error: INBOX_PUBLIC_URL='https://inbox.example.com/hooks?token=abc' must not have a query string" \
        in out.stderr
    assert not (tmp_path / "inbox.db").exists()  # refused before anything was set up


def test_user_create_without_a_terminal_generates_a_password_shown_once(tmp_path: Path) -> None:
    """What `docker compose exec -T app inbox user create --email ... --role admin` does."""
    out = _run(tmp_path, "user", "create", "--email", "Ops.Lead@Example.com", "--role", "admin")
    assert out.returncode == 0, out.stderr
    user = json.loads(out.stdout)
    assert (user["email"], user["name"], user["role"]) == ("ops.lead@example.com", "Ops.Lead", "admin")
    prefix = "password for ops.lead@example.com (shown once; change it after logging in): "
    assert out.stderr.startswith(prefix) and out.stderr.count("\n") == 1
    password = out.stderr.removeprefix(prefix).strip()
    assert len(password) >= 16
    assert verify_password(_password_hash(tmp_path, "ops.lead@example.com"), password)
    assert password not in out.stdout


def test_user_create_reads_the_password_from_stdin(tmp_path: Path) -> None:
    out = _run(tmp_path, "user", "create", "--email", "a@example.com", "--password-stdin",
               stdin="a long pass phrase\nnot this line\n")
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert verify_password(_password_hash(tmp_path, "a@example.com"), "a long pass phrase")
    short = _run(tmp_path, "user", "create", "--email", "b@example.com", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr


def test_user_create_asks_for_the_password_twice_at_a_terminal(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*CLI, "user", "create", "--email", "t@example.com"], env=_env(tmp_path), cwd=tmp_path,
                            stdin=follower, stdout=subprocess.PIPE, stderr=follower, start_new_session=True)
    os.close(follower)
    seen = b""
    for answer in (b"typed at the prompt\n", b"typed at the prompt\n"):
        while not seen.rstrip().endswith(b":"):  # the prompt, on the terminal (stderr)
            seen += os.read(leader, 1024)
        os.write(leader, answer)
        seen = b""
    stdout, _ = proc.communicate(timeout=60)
    os.close(leader)
    assert proc.returncode == 0
    assert json.loads(stdout)["email"] == "t@example.com"
    assert verify_password(_password_hash(tmp_path, "t@example.com"), "typed at the prompt")


def test_a_password_on_the_command_line_still_works_with_a_warning(tmp_path: Path) -> None:
    out = _run(tmp_path, "user", "create", "--email", "a@example.com", "--password", "a long password")
    assert out.returncode == 0, out.stderr
    assert "warning: --password puts the secret on the command line" in out.stderr
    assert verify_password(_password_hash(tmp_path, "a@example.com"), "a long password")


def test_inbox_create_needs_its_secret_from_the_environment_or_a_terminal(tmp_path: Path) -> None:
    args = ("inbox", "create", "sms", "--name", "S", "--phone", "+15550001111", "--account-sid", ACCOUNT_SID)
    missing = _run(tmp_path, *args)
    assert missing.returncode == 1
    assert "--auth-token (the account's auth token (checks webhook signatures)) is required: set INBOX_AUTH_TOKEN, " \
           "or run in a terminal to be asked" in missing.stderr
    flagged = _run(tmp_path, *args, "--auth-token", AUTH_TOKEN)
    assert flagged.returncode == 0, flagged.stderr
    assert "warning: --auth-token puts the secret on the command line" in flagged.stderr
    assert "INBOX_AUTH_TOKEN=... in the environment" in flagged.stderr
    assert _stored_settings(tmp_path)["auth_token"] == AUTH_TOKEN
