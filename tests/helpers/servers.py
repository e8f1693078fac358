"""Throw-away PostgreSQL and Redis servers on 127.0.0.1 for the test session.

Found on PATH or in Debian's /usr/lib/postgresql/<version>/bin (.ci/run installs the
packages). A missing binary fails the test that needs it with the command to install it:
nothing is skipped. PostgreSQL refuses to run as root, so as root the cluster is owned by,
and run as, the ``postgres`` user the Debian package creates. Durability is off (fsync,
synchronous_commit): these databases live for one session.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.server import free_port

INSTALL = "apt-get install -y postgresql redis-server"


def find_binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                       None)
    if found is None:
        pytest.fail(f"{name} is not installed: the PostgreSQL+Redis tests need it ({INSTALL}, as .ci/run does)",
                    pytrace=False)
    return found


def _as_owner(owner: str | None, argv: list[str]) -> list[str]:
    return ["runuser", "-u", owner, "--", *argv] if owner else argv


def _wait_until(ready: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not start within {timeout:g} s")
        time.sleep(0.05)  # a separate process becoming ready: nothing to await


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A running cluster; yields the admin URL of its ``postgres`` database."""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    owner = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="inbox-pg-"))
    data = root / "data"
    if owner:
        info = pwd.getpwnam(owner)
        os.chown(root, info.pw_uid, info.pw_gid)
    port = free_port()
    log = root / "server.log"
    run = dict(check=True, capture_output=True, text=True, cwd=root)
    subprocess.run(_as_owner(owner, [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                     "--no-sync"]), **run)  # type: ignore[call-overload]
    options = (f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off "
               "-c full_page_writes=off -c max_connections=200")
    subprocess.run(_as_owner(owner, [pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]),
                   **run)  # type: ignore[call-overload]
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_owner(owner, [pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), cwd=root,
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def redis(port: int | None = None) -> Iterator[str]:
    """A running redis-server (on ``port``, to start one again where another stopped)."""
    server = find_binary("redis-server")
    port = port or free_port()
    proc = subprocess.Popen([server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ready() -> bool:
        assert proc.poll() is None, "redis-server exited"
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0
    try:
        _wait_until(ready, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
