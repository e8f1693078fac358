"""The SLA scheduler benchmark (bench/sla.py), small: a real serving process on a seeded
SQLite file fires every due warning and breach once, the lag and the baseline are
measured, and the scheduler's reads use the fire_at index."""

from __future__ import annotations

from pathlib import Path

from bench.sla import add_due, checks_pass, idle_read, parse_args, run_round, setup, summarize
from inbox.workers.sla import MAX_WAIT


def test_a_small_round_fires_each_due_target_once_and_measures_the_lag(tmp_path: Path) -> None:
    args = parse_args(["--running", "2000", "--due", "60", "--burst", "10", "--window", "1", "--gap", "0.5",
                       "--reads", "50", "--grace", "15", "--settle", "0.3"])
    url = f"sqlite:///{tmp_path}/sla.db"
    setup(url, running=args.running)
    idle = idle_read(url, args.reads)
    assert any("ix_sla_target_fire" in line for line in idle["plans"]["next_fire"]), idle["plans"]
    assert any("ix_sla_target_fire" in line for line in idle["plans"]["fire_due"]), idle["plans"]

    rnd = run_round(url, args, processes=1, redis_url="", first_conversation=1, tmp=tmp_path, label="test")
    s = summarize(rnd, set())
    assert s["expected"] == 72  # 60 targets, a fifth of them warning and breaching
    assert checks_pass(s), s  # each once in the event table, the timeline and on the bus; nothing else
    n, p50, p99, worst = s["all"]
    assert n == 72 and 0 <= p50 <= p99 <= worst
    # Woken by the change and sleeping until the due time, not polling every MAX_WAIT.
    assert worst < MAX_WAIT * 1000, s["all"]
    assert s["burst"][0] == 10 and s["idle"][0] == s["beside"][0] == 72
    assert s["fired"] == [72] and s["reads"] > 0


def test_due_times_fall_in_the_window_and_the_burst_at_one_instant(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/sla.db"
    setup(url, running=100)
    expected = add_due(url, first_conversation=1, due=50, burst=20, window=10.0, gap=3.0, seed=1)
    burst = {e.at for e in expected if e.burst}
    assert len(burst) == 1 and sum(e.burst for e in expected) == 20
    first = min(e.at for e in expected)
    assert max(e.at for e in expected) - first <= 10.0 + 3.0
    both = [e for e in expected if e.type == "sla.breached" and any(
        w.target_id == e.target_id and w.type == "sla.warning" for w in expected)]
    assert len(both) == 10 and all(abs(e.at - next(w.at for w in expected if w.target_id == e.target_id
                                                       and w.type == "sla.warning") - 3.0) < 1e-6 for e in both)
