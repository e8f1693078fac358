"""The container check (`make container-check`; .ci/run runs it after the tests): what a user
of docker-compose.yml does, as docs/deploy.md writes it.

1. build the image from the Dockerfile and bring the stack up (PostgreSQL 15, Redis 7, the app
   with two workers), until /healthz answers and both workers have started;
2. create the first admin with the documented command, without a terminal (the generated
   password, shown once, then logs in), an API token, and an SMS inbox whose auth token comes
   from the environment;
3. post an SMS webhook signed with that auth token as Twilio signs it (and a forged one:
   403), and read the message back through the API;
4. take the stack down with its volumes, whatever happened.

Needs docker with compose, or podman with podman-compose; only the standard library of the
Python running it. Prints how long the build and the start took. The project name and host
port are its own, so a stack a user runs beside it is left alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "inbox-check"
ACCOUNT_SID = "AC" + "c" * 32
OUR_NUMBER, CUSTOMER = "+15550001111", "+15557654321"


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True).returncode == 0 \
            and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    if shutil.which("podman") and shutil.which("podman-compose"):
        return ["podman-compose"]
    sys.exit("container check: needs docker (running, with compose) or podman with podman-compose")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    def __init__(self) -> None:
        self.compose = [*compose_command(), "-p", PROJECT]
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        # What a user exports before `docker compose up` (podman-compose reads them at exec too).
        self.env = {**os.environ, "INBOX_SECRET_KEY": secrets.token_urlsafe(32), "INBOX_PORT": str(port),
                    "INBOX_PUBLIC_URL": self.url, "POSTGRES_PASSWORD": secrets.token_urlsafe(16)}

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([*self.compose, *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                             timeout=timeout, stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({out.returncode}):\n"
                               f"{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        return out

    def app(self, *command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """A command in the running app container, without a terminal (exec -T), as a script runs it."""
        flags = [flag for k, v in (env or {}).items() for flag in ("-e", f"{k}={v}")]
        return self.run("exec", "-T", *flags, "app", *command, timeout=120)

    def logs(self) -> str:
        out = subprocess.run([*self.compose, "logs", "app"], cwd=ROOT, env=self.env, capture_output=True, text=True,
                             timeout=60)
        return out.stdout + out.stderr


def request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


def wait_until(what: str, check: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(1)  # polling another process's state: nothing to await
    raise RuntimeError(f"timed out after {seconds:.0f} s waiting for {what}")


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """As Twilio signs a webhook: base64 HMAC-SHA1 of the URL and each parameter's name and value, sorted by name."""
    payload = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def json_line(output: str) -> dict[str, Any]:
    """The command's JSON answer (podman-compose adds lines of its own around it)."""
    line = next(ln for ln in output.splitlines() if ln.startswith("{"))
    return dict(json.loads(line))


def check(stack: Stack) -> dict[str, float]:
    timings: dict[str, float] = {}
    started = time.monotonic()
    stack.run("build")
    timings["image build"] = time.monotonic() - started

    started = time.monotonic()
    stack.run("up", "-d")
    wait_until("/healthz", lambda: request(stack.url + "/healthz")[0] == 200, 300)
    wait_until("two app workers", lambda: stack.logs().count("Application startup complete") >= 2, 120)
    timings["stack start (up -d to healthy, both workers)"] = time.monotonic() - started

    # docs/deploy.md: the first admin. Without a terminal the password is generated and shown once.
    created = stack.app("inbox", "user", "create", "--email", "you@example.com", "--role", "admin")
    admin = json_line(created.stdout)
    assert (admin["email"], admin["name"], admin["role"]) == ("you@example.com", "you", "admin"), admin
    found = re.search(r"change it after logging in\): (\S+)", created.stdout + created.stderr)
    assert found, created.stderr
    status, body = request(stack.url + "/login", json.dumps({"email": "you@example.com",
                                                              "password": found.group(1)}).encode(),
                           {"Content-Type": "application/json"})
    assert status == 200, (status, body)

    token = stack.app("inbox", "token", "create", "--email", "you@example.com").stdout.split()
    api_token = next(t for t in token if t.startswith("inbx_"))
    auth_token = secrets.token_hex(16)
    inbox = json_line(stack.app("inbox", "inbox", "create", "sms", "--name", "Check line", "--phone", OUR_NUMBER,
                                "--account-sid", ACCOUNT_SID, env={"INBOX_AUTH_TOKEN": auth_token}).stdout)
    assert inbox["address"] == OUR_NUMBER and inbox["settings"]["auth_token"] == "********", inbox

    sid = "SM" + secrets.token_hex(16)
    params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID, "From": CUSTOMER, "To": OUR_NUMBER,
              "Body": "Hello from the container check", "NumMedia": "0", "NumSegments": "1"}
    hook = stack.url + "/webhooks/twilio"
    form = urllib.parse.urlencode(params).encode()
    forged = request(hook, form, {"X-Twilio-Signature": twilio_signature("not-the-token", hook, params)})
    assert forged[0] == 403, forged
    status, body = request(hook, form, {"X-Twilio-Signature": twilio_signature(auth_token, hook, params)})
    assert status == 200, (status, body)

    bearer = {"Authorization": f"Bearer {api_token}"}
    status, body = request(stack.url + "/api/conversations", headers=bearer)
    assert status == 200, (status, body)
    (conversation,) = json.loads(body)["items"]
    status, body = request(f"{stack.url}/api/conversations/{conversation['id']}/timeline", headers=bearer)
    texts = [(m["provider_message_id"], m["text"]) for m in json.loads(body)["items"] if m["type"] == "message"]
    assert texts == [(sid, "Hello from the container check")], texts

    # The workers' own log lines reach the container's log: a status for a message we never
    # sent is logged at info ("twilio status delivered for unknown message SM...").
    unknown = "SM" + secrets.token_hex(16)
    params = {"MessageSid": unknown, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID, "From": OUR_NUMBER,
              "To": CUSTOMER}
    hook = stack.url + "/webhooks/twilio/status"
    status, body = request(hook, urllib.parse.urlencode(params).encode(),
                           {"X-Twilio-Signature": twilio_signature(auth_token, hook, params)})
    assert status == 204, (status, body)
    wait_until("a worker's info line in the log", lambda: unknown in stack.logs(), 30)
    logs = stack.logs()
    for chatter in ("setup plugin", "Context impl", "Child process"):  # quiet, and no worker killed
        assert chatter not in logs, chatter
    return timings


def main() -> int:
    stack = Stack()
    stack.run("down", "-v", timeout=300)  # what a failed run before may have left
    total = time.monotonic()
    try:
        timings = check(stack)
    except (AssertionError, RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"container check FAILED: {exc!r}\n--- app logs ---\n{stack.logs()[-6000:]}", file=sys.stderr)
        return 1
    finally:
        stack.run("down", "-v", timeout=300)
    for what, seconds in timings.items():
        print(f"container check: {what}: {seconds:.1f} s")
    print(f"container check: passed in {time.monotonic() - total:.1f} s (with the stack taken down)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
