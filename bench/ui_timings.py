"""The agent UI in a browser (issue 13): first paint of /inbox, and opening a conversation
of 5,000 messages, with Playwright driving Debian's chromium against a real `inbox serve`
(SQLite, seeded by bench/ui_seed.py: two dozen customers on five channels and the long
conversation). The ceiling, measured in the same run with the same browser: a bare
Starlette app under the same uvicorn settings that answers /inbox and the conversation
partial with the very bytes ours served (captured first), the same static files, a
WebSocket that stays silent and empty answers to the page's background POSTs, so the
browser does the same parsing, styling and painting with no server work behind it.

    .venv/bin/python bench/ui_timings.py [--runs 20]

Each run, alternately on the bare app and on ours, measures:
- first paint and first contentful paint of /inbox?tab=all, signed in as the agent, in a
  fresh browser context (cold cache): performance.getEntriesByType('paint');
- GET /ui/conversations/<id> of the 5,000-message conversation, fetched by the page: the
  client's view from its Resource Timing (request sent to first byte, and to the last
  byte) and the server's own, from the Server-Timing header ui/timing.py adds to /ui/
  responses (the bare app sends none);
- from a click on that conversation's row in the list to its newest message showing in the
  timeline: the click's time taken by a listener in the page, the end by a check run on
  every animation frame (so the figure is in whole frames, about 16 ms each).
Prints the median and p90 over --runs of each, ours beside the bare app's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))
from ingest import free_port, wait_healthy  # noqa: E402
from playwright.async_api import Browser, BrowserContext, async_playwright, expect  # noqa: E402
from ui_seed import BIG, PASSWORD, SECRET_KEY, seeded  # noqa: E402

from tests.helpers.browser import CHROMIUM, FLAGS  # noqa: E402

TARGET_MS = 100.0  # the bound on the server's time to open the long conversation
CLI = [sys.executable, "-m", "inbox.cli"]
BARE_APP = '''
from pathlib import Path
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocketDisconnect
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).parent
PAGE = (HERE / "bare_inbox.html").read_bytes()
PARTIAL = (HERE / "bare_partial.html").read_bytes()

async def page(request):
    return HTMLResponse(PAGE)

async def partial(request):
    return HTMLResponse(PARTIAL)

async def nothing(request):
    return HTMLResponse("")

async def socket(ws):
    await ws.accept()
    try:
        while True:
            await ws.receive_text()
    except WebSocketDisconnect:
        pass

app = Starlette(routes=[Route("/inbox", page), Route("/ui/conversations/{id:int}", partial),
                        Route("/ui/conversations/{id:int}/{action}", nothing, methods=["POST"]),
                        WebSocketRoute("/ws", socket), Mount("/static", StaticFiles(directory=%r))])
''' % str(ROOT / "ui" / "static")

PAINTS = """() => new Promise(resolve => {
  const read = () => Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]));
  const done = () => {
    const p = read();
    if (p['first-contentful-paint'] !== undefined) resolve(p); else requestAnimationFrame(done);
  };
  done();
})"""
FETCH = """async (url) => {
  performance.clearResourceTimings();
  const r = await fetch(url, {headers: {'HX-Request': 'true'}});
  await r.text();
  const e = performance.getEntriesByType('resource').find(x => x.name.endsWith(url));
  const app = (e.serverTiming || []).find(t => t.name === 'app');
  return {first_byte: e.responseStart - e.requestStart, whole: e.responseEnd - e.startTime,
          server: app ? app.duration : null, bytes: e.encodedBodySize || e.transferSize, status: r.status};
}"""
# Elements showing ``text`` now (the newest message's: in the timeline, and as the row's preview).
SHOWING = """(text) => {
  const found = document.evaluate(`//*[text()[contains(., ${JSON.stringify(text)})]]`, document, null,
                                  XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
  let n = 0;
  for (let i = 0; i < found.snapshotLength; i++) if (found.snapshotItem(i).checkVisibility()) n++;
  return n;
}"""
ARM = "() => { window.__clicked = null; document.addEventListener('click', () => { window.__clicked = performance.now(); }, {capture: true, once: true}); }"  # noqa: E501
OPENED = "([text, before]) => ((" + SHOWING + ")(text) > before) ? performance.now() - window.__clicked : false"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Server:
    """A uvicorn process: `inbox serve` on the seeded file, or the bare app."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd)
        wait_healthy(self.url + ("/healthz" if "serve" in argv else "/inbox"), self.proc)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()


def inbox_server(db_url: str, media_dir: str, cwd: Path) -> Server:
    port = free_port()
    env = {**os.environ, "INBOX_DATABASE_URL": db_url, "INBOX_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "INBOX_SECRET_KEY": SECRET_KEY, "INBOX_MEDIA_DIR": media_dir, "INBOX_LOG_LEVEL": "warning",
           "INBOX_RUN_WORKER": "0", "INBOX_SMTP_LISTEN": f"127.0.0.1:{free_port()}"}
    return Server([*CLI, "serve", "--port", str(port)], env, cwd, port)


def bare_server(page: bytes, partial: bytes, cwd: Path) -> Server:
    (cwd / "bare_ui.py").write_text(BARE_APP)
    (cwd / "bare_inbox.html").write_bytes(page)
    (cwd / "bare_partial.html").write_bytes(partial)
    port = free_port()
    return Server([sys.executable, "-m", "uvicorn", "bare_ui:app", "--port", str(port), "--loop", "uvloop",
                   "--http", "httptools", "--no-access-log", "--log-level", "warning"], dict(os.environ), cwd, port)


async def signed_in(browser: Browser, url: str) -> dict[str, Any]:
    """The agent's session cookie, through the real login form."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(url + "/login")
    await page.get_by_label("Email").fill("agent@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(url + "/inbox")
    state: dict[str, Any] = await context.storage_state()
    await context.close()
    return state


async def one_run(browser: Browser, url: str, state: dict[str, Any] | None, conv_id: int, name: str,
                  newest: str) -> dict[str, float | None]:
    context: BrowserContext = await browser.new_context(viewport={"width": 1440, "height": 900},
                                                        storage_state=state)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(url + "/inbox?tab=all")
    paints = await page.evaluate(PAINTS)
    fetched = await page.evaluate(FETCH, f"/ui/conversations/{conv_id}")
    assert fetched["status"] == 200, fetched
    row = page.get_by_role("link", name=name)
    await expect(row).to_be_visible()
    before = await page.evaluate(SHOWING, newest)
    await page.evaluate(ARM)
    await row.click()
    opened = await (await page.wait_for_function(OPENED, arg=[newest, before], polling="raf")).json_value()
    await context.close()
    return {"first paint": paints.get("first-paint"), "first contentful paint": paints["first-contentful-paint"],
            "partial: server (Server-Timing)": fetched["server"],
            "partial: request to first byte": fetched["first_byte"],
            "partial: request to last byte": fetched["whole"], "click to timeline visible": opened,
            "bytes": fetched["bytes"]}


async def measure(runs: int, cwd: Path) -> None:
    print("seeding ...", flush=True)
    async with seeded(cwd) as s:
        conv_id = s.conversations[BIG]
        db_url, media_dir, counts = s.db_url, s.media_dir, s.counts
    print(f"  seeded: {counts}", flush=True)
    ours = inbox_server(db_url, media_dir, cwd)
    bare: Server | None = None
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            state = await signed_in(browser, ours.url)
            context = await browser.new_context(storage_state=state)  # type: ignore[arg-type]
            page_html = await (await context.request.get(ours.url + "/inbox?tab=all")).body()
            partial = await (await context.request.get(ours.url + f"/ui/conversations/{conv_id}",
                                                       headers={"HX-Request": "true"})).body()
            timeline = await (await context.request.get(ours.url + f"/api/conversations/{conv_id}/timeline")).json()
            await context.close()
            newest = [m["text"] for m in timeline["items"] if m["type"] == "message"][-1]  # oldest first
            name = "Pat Morgan"
            bare = bare_server(page_html, partial, cwd)
            results: dict[str, list[dict[str, float | None]]] = {"bare": [], "inbox": []}
            for label, url, st in (("bare", bare.url, None), ("inbox", ours.url, state)):  # warm-up, not counted
                await one_run(browser, url, st, conv_id, name, newest)
            for i in range(runs):
                for label, url, st in (("bare", bare.url, None), ("inbox", ours.url, state)):
                    results[label].append(await one_run(browser, url, st, conv_id, name, newest))
                print(f"  run {i + 1} of {runs} done", flush=True)
            await browser.close()
    finally:
        ours.stop()
        if bare is not None:
            bare.stop()
    print(f"\n/inbox page {len(page_html):,} bytes; the partial of the 5,000-message conversation "
          f"{len(partial):,} bytes; {runs} runs each (fresh context, cold cache)\n")
    table(results)


def table(results: dict[str, list[dict[str, float | None]]]) -> None:
    metrics = [k for k in results["inbox"][0] if k != "bytes"]
    width = max(map(len, metrics)) + 2
    print(f"{'ms':<{width}}{'ours p50':>10}{'p90':>8}{'bare p50':>10}{'p90':>8}")
    for metric in metrics:
        cells = []
        for label in ("inbox", "bare"):
            values = [r[metric] for r in results[label] if r[metric] is not None]
            cells += [statistics.median(values), percentile(values, 90)] if values else [None, None]
        print(f"{metric:<{width}}" + "".join(f"{c:>{10 if i % 2 == 0 else 8}.1f}" if c is not None
                                             else f"{'-':>{10 if i % 2 == 0 else 8}}" for i, c in enumerate(cells)))
    server = [r["partial: server (Server-Timing)"] for r in results["inbox"]]
    p90 = percentile([v for v in server if v is not None], 90)
    print(f"\nserver time to open the 5,000-message conversation, p90 {p90:.1f} ms: "
          f"{'under' if p90 < TARGET_MS else 'NOT under'} {TARGET_MS:g} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    asyncio.run(measure(args.runs, Path(tempfile.mkdtemp(prefix="inbox-ui-bench-"))))


if __name__ == "__main__":
    main()
