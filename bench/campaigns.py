"""Campaign benchmark (issue 18): a marketing campaign to ``--recipients`` contacts (default
100,000) of one `inbox serve` process (SQLite) through an SMS inbox paced at ``--rate``
sends a second, to a fake Twilio REST API on 127.0.0.1 (bench/outbound.py's: it answers
429 to anything over the rate, counted); the server is killed with SIGKILL halfway and
started again.

    .venv/bin/python bench/campaigns.py [--recipients 100000] [--rate 200] [--no-kill]

1. **Data**: the contacts, each with an SMS identity; ``--opted-in`` of them (88%) opted in
   to marketing, 2% opted out (STOP), the rest with no line, written straight into the
   database file (not timed).
2. **Preflight** (``POST /api/campaigns/{id}/preflight``, three times, the median) against
   its bare baseline in the same run: one SQL statement reading the same rows (each
   contact's identity and consent lines) with sqlite3, no decision made.
3. **Sending** at the inbox's ``send_rate_per_second``: the busiest second of send attempts
   counted at the fake (never over the rate, no 429); SIGKILL of the server once half the
   messages have reached the fake, and a restart; at the end, every opted-in recipient has
   been messaged exactly once (counted at the fake by number) and the database agrees
   (one message per queued recipient).

Quiet hours are off for the run (``quiet_hours: false``) unless ``--quiet-hours``, so that
what is sent does not depend on the hour of the day; with them, the preflight also puts
every recipient in their zone.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import json
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from ingest import CLI, running, wait_healthy  # noqa: E402
from outbound import max_in_window, sms_setup  # noqa: E402

from inbox.workers.campaigns import SHARE  # noqa: E402
from inbox.workers.delivery import sustained  # noqa: E402

def write_contacts(db_path: Path, n: int, opted_in: float) -> dict[str, int]:
    """``n`` contacts with an SMS identity each and their consent lines (``opted_in`` of them
    opted in to marketing, 2% opted out, the rest never asked); how many of each."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    db = sqlite3.connect(db_path)
    start = (db.execute("SELECT coalesce(max(id), 0) FROM contact").fetchone()[0]) + 1
    contacts, identities, consent = [], [], []
    kinds: collections.Counter[str] = collections.Counter()
    for i in range(n):
        cid, phone = start + i, f"+1555{i:07d}"
        contacts.append((cid, f"Bench {i:06d}", phone, "{}", now, now))
        identities.append((cid, cid, "sms", phone, f"Bench {i:06d}", i % 50 == 7, now))
        if i % 50 == 7:  # 2%: sent STOP
            consent.append((cid, "sms", "transactional", "opt_out", "keyword", "STOP", now))
            kinds["opted_out"] += 1
        elif (i * 7919) % 1000 >= opted_in * 1000:  # never asked (spread evenly over the ids)
            kinds["no_consent"] += 1
        else:
            consent.append((cid, "sms", "marketing", "opt_in", "import", "signed up at the till", now))
            kinds["opted_in"] += 1
    db.executemany("INSERT INTO contact (id, name, phone, attributes, created_at, updated_at) "
                   "VALUES (?, ?, ?, ?, ?, ?)", contacts)
    db.executemany("INSERT INTO contact_identity (id, contact_id, kind, handle, profile_name, opted_out, "
                   "last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)", identities)
    db.executemany("INSERT INTO consent_record (contact_id, kind, purpose, state, source, proof, at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)", consent)
    db.commit()
    db.close()
    return dict(kinds)


def bare_read(db_path: Path) -> float:
    """Seconds one statement takes to read what the preflight reads: every contact's
    identity and consent lines."""
    db = sqlite3.connect(db_path)
    t = time.perf_counter()
    db.execute("SELECT c.id, c.name, c.attributes, i.handle, i.opted_out, r.purpose, r.state FROM contact c "
               "JOIN contact_identity i ON i.contact_id = c.id LEFT JOIN consent_record r ON r.contact_id = c.id "
               "WHERE c.merged_into_id IS NULL").fetchall()
    seconds = time.perf_counter() - t
    db.close()
    return seconds


def serve(env: dict[str, str], tmp: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, cwd=tmp)
    wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
    return proc


def counts(db_path: Path, campaign_id: int) -> dict[str, Any]:
    db = sqlite3.connect(db_path)
    states = dict(db.execute("SELECT state, count(*) FROM campaign_recipient WHERE campaign_id = ? GROUP BY state",
                             (campaign_id,)).fetchall())
    messages = db.execute("SELECT count(*), count(DISTINCT identity_id) FROM message WHERE automatic = 'campaign'"
                          ).fetchone()
    linked = db.execute("SELECT count(*) FROM campaign_recipient r JOIN message m ON m.id = r.message_id "
                        "WHERE r.campaign_id = ?", (campaign_id,)).fetchone()[0]
    db.close()
    return {"states": states, "messages": messages[0], "distinct_recipients": messages[1], "linked": linked}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recipients", type=int, default=100_000)
    ap.add_argument("--rate", type=int, default=200, help="the inbox's send_rate_per_second (and the fake's limit)")
    ap.add_argument("--opted-in", type=float, default=0.88, help="the share of contacts opted in to marketing")
    ap.add_argument("--quiet-hours", action="store_true", help="the marketing default (21:00-08:00) instead of none")
    ap.add_argument("--no-kill", action="store_true")
    args = ap.parse_args()

    tmp, port, fake_port, env, inbox_id, token = sms_setup("inbox-bench-campaign-")
    public, fake_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{fake_port}"
    db_path = tmp / "inbox.db"
    t = time.perf_counter()
    made = write_contacts(db_path, args.recipients, args.opted_in)
    print(f"{args.recipients} contacts written in {time.perf_counter() - t:.1f} s: {made}")
    auth = {"Authorization": f"Bearer {token}"}
    fake_cmd = [sys.executable, str(Path(__file__).parent / "outbound.py"), "--serve-fake", str(fake_port),
                "--limit", str(args.rate), "--latency", "0.02"]
    with running(fake_cmd, fake_url + "/bench/stats", tmp):
        server = serve(env, tmp, port)
        try:
            client = httpx.Client(base_url=public, headers=auth, timeout=120)
            client.patch(f"/api/inboxes/{inbox_id}", json={"settings": {"send_rate_per_second": args.rate}}
                         ).raise_for_status()
            text = "Hi {{contact_name}}, 20% off today"
            body = {"name": "Bench sale", "purpose": "marketing", "audience": {"channels": ["sms"]},
                    "messages": [{"channel": "sms", "inbox_id": inbox_id, "text": text}]}
            r = client.post("/api/campaigns", json={**body, **({} if args.quiet_hours else {"quiet_hours": False})})
            r.raise_for_status()
            campaign_id = r.json()["id"]
            bare = [bare_read(db_path) for _ in range(3)]
            # The same campaign with marketing's quiet hours, checked only: each recipient's
            # zone is then worked out too (from a phone number, its longest step).
            zoned = client.post("/api/campaigns", json={**body, "name": "Bench sale, checked in every zone"})
            check = {}
            for label, cid in (("no quiet hours", campaign_id), ("quiet hours, every zone", zoned.json().get("id"))):
                timings = []
                for _ in range(3):
                    t = time.perf_counter()
                    answer = client.post(f"/api/campaigns/{cid}/preflight")
                    timings.append(time.perf_counter() - t)
                    answer.raise_for_status()
                    check = check or answer.json()
                print(f"preflight, {label}: {statistics.median(timings):.2f} s "
                      f"(runs {', '.join(f'{x:.2f}' for x in timings)}); "
                      f"bare read of the same rows {statistics.median(bare):.2f} s")
            print(f"  recipients {check['recipients']}, will send {check['will_send']}, "
                  f"skipped {check['skipped_by_reason']}")
            will = check["will_send"]
            t0 = time.monotonic()
            client.post(f"/api/campaigns/{campaign_id}/start").raise_for_status()
            killed_at = None
            while True:
                stats = httpx.get(fake_url + "/bench/stats", timeout=60).json()
                accepted = len(stats["accepted"])
                if not args.no_kill and killed_at is None and accepted >= will // 2:
                    server.send_signal(signal.SIGKILL)
                    server.wait()
                    killed_at = accepted
                    print(f"SIGKILL at {accepted} sends ({time.monotonic() - t0:.1f} s); restarting")
                    server = serve(env, tmp, port)
                if accepted >= will:
                    break
                if time.monotonic() - t0 > 3 * will / args.rate + 120:
                    print("timed out")
                    break
                time.sleep(1)
            elapsed = time.monotonic() - t0
            time.sleep(5)  # a repeated send would show up here
            stats = httpx.get(fake_url + "/bench/stats", timeout=60).json()
            totals = client.get(f"/api/campaigns/{campaign_id}").json()
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait()
    sent = stats["sent"]
    bodies = collections.Counter(m["body"] for m in sent)
    twice = sum(1 for c in bodies.values() if c > 1)
    db = counts(db_path, campaign_id)
    span = max(stats["accepted"]) - min(stats["attempts"])
    print(f"sending: {len(sent)} accepted in {span:.1f} s at the fake ({len(sent) / span:.1f}/s; inbox rate "
          f"{args.rate}/s, campaigns take {SHARE * sustained(args.rate):.1f}/s); busiest 1 s: "
          f"{max_in_window(stats['attempts'])} attempts, {max_in_window(stats['accepted'])} accepted; "
          f"429s: {stats['rejected']}; wall {elapsed:.1f} s")
    over = over_windows(stats["attempts"], args.rate)
    if over:
        first = min(stats["attempts"])
        print(f"  windows over {args.rate}: {len(over)}, starting at "
              + ", ".join(f"{t - first:.1f} s" for t in over[:10]) + " after the first attempt")
    print(f"exactly once: {len(bodies)} distinct recipients of {will}, {twice} messaged more than once; "
          f"database {db}")
    print(f"campaign: {totals['status']}, totals {json.dumps(totals['totals'])}")


def over_windows(times: list[float], limit: int, width: float = 1.0) -> list[float]:
    """The starts of the 1 s windows (one a burst) holding more than ``limit`` attempts."""
    times, out = sorted(times), []
    for i, t in enumerate(times):
        if bisect.bisect_left(times, t + width) - i > limit and (not out or t - out[-1] > width):
            out.append(t)
    return out


if __name__ == "__main__":
    main()
