"""The package as a user gets it: a wheel built from the declared files alone, installed into a
fresh venv, and `inbox serve` started from an empty directory; and `make deps`.

Kept fast (about 10-20 s) for the suite: the wheel is built with this venv's setuptools
(``--no-build-isolation``: an isolated build would download setuptools on every run), from a
copy of only what pyproject.toml packages (so nothing outside it can leak in); the fresh venv
is made without pip (``--without-pip``; this venv's pip installs into it with ``--python``),
and gets our wheel alone (``--no-deps --no-index``). It finds the dependencies through a .pth
file naming this venv's site-packages. A .pth line only adds a path: the .pth files inside
it, among them this venv's editable install of the checkout, are not processed, so ``inbox``
there can only be the wheel's copy, which the test checks.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.server import free_port

ROOT = Path(__file__).resolve().parent.parent
PACKAGED = ("pyproject.toml", "README.md", "inbox", "ui", "webhooks")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel, and what building it printed."""
    tmp = tmp_path_factory.mktemp("build")
    src = tmp / "src"
    src.mkdir()
    for name in PACKAGED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(ROOT / name, src / name)
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v",
                          "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    (built,) = (tmp / "dist").glob("inbox-*.whl")
    return built, out.stdout + out.stderr


def test_the_wheel_builds_without_warnings_and_carries_migrations_templates_and_static(
        wheel: tuple[Path, str]) -> None:
    built, log = wheel
    assert "SetuptoolsDeprecationWarning" not in log and "deprecat" not in log.lower()  # e.g. the license table
    names = set(zipfile.ZipFile(built).namelist())
    versions = sorted(p.name for p in (ROOT / "inbox/storage/migrations/versions").glob("*.py"))
    assert versions and {f"inbox/storage/migrations/versions/{v}" for v in versions} <= names
    assert {"inbox/storage/migrations/env.py", "inbox/storage/migrations/script.py.mako", "ui/templates/base.html",
            "ui/templates/login.html", "ui/static/app.css", "ui/static/app.js", "ui/static/favicon.svg"} <= names
    vendored = [p.name for p in (ROOT / "ui/static/vendor").iterdir()]
    assert vendored and {f"ui/static/vendor/{v}" for v in vendored} <= names


@pytest.fixture
def installed(wheel: tuple[Path, str], tmp_path: Path) -> Iterator[Path]:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    out = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                          "--no-index", str(wheel[0])], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    yield venv


async def test_inbox_serve_from_the_wheel_migrates_and_serves_the_ui_from_an_empty_directory(
        installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX_") and k != "PYTHONPATH"}
    where = "import inbox, ui, webhooks; print(inbox.__file__, ui.__file__, webhooks.__file__)"
    located = subprocess.run([str(installed / "bin/python"), "-c", where], cwd=empty, env=env, capture_output=True,
                             text=True, check=True).stdout.split()
    assert all(Path(p).is_relative_to(installed) for p in located), located  # the wheel's, not the checkout's

    port = free_port()
    env.update(INBOX_PUBLIC_URL=f"http://127.0.0.1:{port}", INBOX_SMTP_LISTEN=f"127.0.0.1:{free_port()}")
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(installed / "bin/inbox"), "serve", "--port", str(port)], cwd=empty, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(600):  # up to ~30 s to import, migrate and bind
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, log.read_text()
                await asyncio.sleep(0.05)
            else:
                raise TimeoutError("inbox serve from the wheel did not become healthy")

            login = await client.get("/login")
            assert login.status_code == 200
            linked = re.findall(r'(?:href|src)="(/static/[^"]+)"', login.text)
            assert {"/static/app.css", "/static/app.js", "/static/favicon.svg"} <= set(linked)
            assert any(p.startswith("/static/vendor/htmx-") for p in linked)
            types = {}
            for path in linked:
                r = await client.get(path)
                assert r.status_code == 200 and r.content, path
                types[path.rsplit(".", 1)[-1]] = r.headers["content-type"].split(";")[0]
            assert types["css"] == "text/css" and types["svg"] == "image/svg+xml" and "javascript" in types["js"]
    finally:
        proc.terminate()
        proc.wait(30)
    with sqlite3.connect(empty / "data" / "inbox.db") as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    head = sorted(p.name for p in (ROOT / "inbox/storage/migrations/versions").glob("0*.py"))[-1]
    assert head.startswith(revision + "_")  # migrated to the latest revision


def test_make_deps_installs_the_missing_debian_packages_and_says_so(tmp_path: Path) -> None:
    """`make test` runs `make deps` first: on a machine without redis-server (the 48 errors of a
    fresh `make test`), it installs it with apt-get (a stand-in here that records its call)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "ls", "id", "env", "python3.11", "make", "chromium", "initdb", "cat"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    calls = tmp_path / "apt-calls"
    for fake in ("apt-get", "sudo"):
        script = bin_dir / fake
        script.write_text(f'#!{shutil.which("bash")}\n' + ('exec "$@"\n' if fake == "sudo" else
                                                            f'echo "$*" >> {calls}\n'))
        script.chmod(0o755)
    out = subprocess.run(["bash", str(ROOT / ".ci/deps")], env={"PATH": str(bin_dir)}, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "make deps: installing from Debian with apt-get: " in out.stdout and "redis-server" in out.stdout
    update, install = calls.read_text().splitlines()
    assert update == "update -qq" and install.startswith("install -y -qq ") and "redis-server" in install.split()
