"""Reading mail in worker processes, each job with a time budget, so that no mail, however
hostile, holds the event loop (HTTP, WebSockets, webhooks and the SMTP receiver share it).

Why processes: parsing is CPU work in pure Python (the stdlib's email package), so a thread
would still hold the GIL most of the time, and a thread cannot be interrupted. A worker
process that overruns its budget is killed and replaced; the others carry on.

Why not concurrent.futures.ProcessPoolExecutor: before Python 3.14 it cannot stop one
running job; a stuck job would take a worker for good. So each worker here is one fresh
interpreter with a socket of its own to this one (jobs and answers pickled over it with
multiprocessing's Connection), used for one job at a time. Not a multiprocessing.Process:
its spawn and forkserver methods import the server's main module (the whole app) in every
worker, and fork would copy this process's threads and sockets. ``bare_packages`` are set
up in the worker without running their __init__ (webhooks/email/__init__.py declares the
channel, which imports the domain and its libraries), so a worker loads only what it runs.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
STARTUP_SECONDS = 60


class Overrun(Exception):
    """The job did not finish within the budget; its worker was killed."""


class WorkerLost(Exception):
    """The worker died during the job (killed from outside, out of memory)."""


def _serve(conn: Connection) -> None:
    """A worker's loop: run each job sent, send back (True, result) or (False, exception)."""
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):  # the server went away: nothing more to do
            return
        try:
            reply: tuple[bool, Any] = (True, fn(*args))
        except Exception as exc:  # noqa: BLE001 - the caller decides what a failure means
            reply = (False, exc)
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result or exception
            conn.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


@dataclass(eq=False)  # compared by identity: one per process
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(5)
        self.conn.close()


def _exchange(conn: Connection, job: tuple[Any, ...]) -> tuple[bool, Any]:
    conn.send(job)
    reply: tuple[bool, Any] = conn.recv()
    return reply


class Pool:
    """``size`` worker processes, started on first use; ``run`` gives each job ``budget`` seconds."""

    def __init__(self, size: int, budget: float, preload: tuple[str, ...] = (),
                 bare_packages: tuple[str, ...] = ()) -> None:
        self.size = max(1, size)
        self.budget = budget
        self.preload = preload
        self.packages = [f"{name}={os.pathsep.join(sys.modules[name].__path__)}" for name in bare_packages]
        # Threads of our own wait on the workers' pipes: the default executor's few threads
        # also serve database reads (and /healthz), which must not queue behind a slow mail.
        self._threads = ThreadPoolExecutor(max_workers=2 * self.size + 1, thread_name_prefix="inbox-mail-reader")
        self._idle: asyncio.Queue[_Worker] | None = None
        self._all: set[_Worker] = set()
        self._refilling: set[asyncio.Future[None]] = set()
        self._closed = False

    def _start(self) -> _Worker:
        ours, theirs = socket.socketpair()
        # The worker finds our modules where we do.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        process = subprocess.Popen([sys.executable, "-c", _BOOT, str(theirs.fileno()), ",".join(self.preload),
                                    *self.packages], pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env)
        theirs.close()
        worker = _Worker(process, Connection(ours.detach()))
        # Wait until it has imported what it runs: start-up is not part of any job's budget.
        if not worker.conn.poll(STARTUP_SECONDS) or worker.conn.recv() != "ready":
            worker.kill()
            raise WorkerLost(f"a mail-reading worker did not start within {STARTUP_SECONDS} s")
        self._all.add(worker)
        return worker

    async def _workers(self) -> asyncio.Queue[_Worker]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for worker in await asyncio.gather(*(self._in_thread(self._start) for _ in range(self.size))):
                self._idle.put_nowait(worker)
        return self._idle

    async def warm(self) -> None:
        """Start the workers now rather than with the first job."""
        await self._workers()

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args) in a worker. Overrun when it takes longer than the budget, WorkerLost
        when the worker dies; an exception fn raises is raised here."""
        idle = await self._workers()
        worker = await idle.get()
        try:
            exchange = asyncio.get_running_loop().run_in_executor(self._threads, _exchange, worker.conn, (fn, args))
            ok, value = await asyncio.wait_for(exchange, self.budget)
        except TimeoutError:
            await self._replace(worker)
            raise Overrun(f"not done within {self.budget:g} s") from None
        except (EOFError, OSError) as exc:
            await self._replace(worker)
            raise WorkerLost(f"the worker died: {type(exc).__name__}") from None
        except BaseException:  # cancelled: the worker may be mid-job, so it cannot be reused
            await self._replace(worker)
            raise
        idle.put_nowait(worker)
        if not ok:
            raise value
        return value  # type: ignore[no-any-return]

    async def _replace(self, worker: _Worker) -> None:
        """Kill the worker; its successor starts in the background (the caller, who has
        waited long enough, does not wait for that too)."""
        self._all.discard(worker)
        await self._in_thread(worker.kill)
        if not self._closed:
            task = asyncio.ensure_future(self._refill())
            self._refilling.add(task)
            task.add_done_callback(self._refilling.discard)

    async def _refill(self) -> None:
        try:
            fresh = await self._in_thread(self._start)
        except Exception:  # noqa: BLE001 - logged; the pool runs on with one worker fewer
            log.exception("a mail-reading worker could not be started")
            return
        if self._closed or self._idle is None:
            await self._in_thread(fresh.kill)
        else:
            self._idle.put_nowait(fresh)

    async def aclose(self) -> None:
        self._closed = True
        await asyncio.gather(*self._refilling, return_exceptions=True)  # each kills what it started
        workers, self._all = list(self._all), set()
        for worker in workers:
            await self._in_thread(worker.kill)
        self._idle = None
        self._threads.shutdown(wait=False)



def worker_main(fd: int, preload: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which then ends us
    for module in preload:
        importlib.import_module(module)
    server = Connection(fd)
    server.send("ready")
    _serve(server)


# A worker's first lines: the bare packages (argv: FD PRELOAD NAME=PATH...), then this module.
_BOOT = f"""
import sys, types
for spec in sys.argv[3:]:
    name, _, path = spec.partition("=")
    package = types.ModuleType(name)
    package.__path__ = path.split({os.pathsep!r})
    sys.modules[name] = package
from {__name__} import worker_main
worker_main(int(sys.argv[1]), [m for m in sys.argv[2].split(",") if m])
"""
