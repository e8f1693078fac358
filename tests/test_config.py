"""Settings from the environment, and the CLI that reads them in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inbox.config import Settings
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN


@pytest.mark.parametrize("value, on", [("0", False), ("False", False), ("NO", False), (" off ", False),
                                       ("1", True), ("TRUE", True), ("yes", True)])
def test_run_worker_is_read_case_insensitively(value: str, on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INBOX_SECRET_KEY", "k")
    monkeypatch.setenv("INBOX_RUN_WORKER", value)
    assert Settings.from_env().run_worker is on


def test_cli_inbox_reads_national_numbers_in_the_default_region_and_prints_webhook_urls(tmp_path: Path) -> None:
    env = {**os.environ, "INBOX_DATABASE_URL": f"sqlite:///{tmp_path}/inbox.db", "INBOX_SECRET_KEY": "k",
           "INBOX_PUBLIC_URL": "https://inbox.example.com/", "INBOX_DEFAULT_REGION": "gb"}
    out = subprocess.run([sys.executable, "-m", "inbox.cli", "inbox", "create", "sms", "--name", "London",
                          "--phone", "020 7946 0018", "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    inbox = json.loads(out.stdout)
    assert inbox["address"] == "+442079460018"
    assert inbox["webhook_urls"] == {"messaging": "https://inbox.example.com/webhooks/twilio",
                                     "status_callback": "https://inbox.example.com/webhooks/twilio/status"}
