"""The demo runs as a user would run it: a real console command in a subprocess."""

from __future__ import annotations

import subprocess
import sys


def test_demo_shows_tasks_jobs_and_events_then_exits_zero() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "asyncz_queue", "demo", "--seconds", "4"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    started = [
        line for line in out.splitlines() if "job started" in line and "on 'default'" in line
    ]
    # Queued while paused, the high-priority job starts before the low-priority one.
    assert "crunch('high'" in started[0] and "crunch('low'" in started[2]
    assert "task 'heartbeat'" in out and "three seconds in" in out
    assert "on 'inline'" in out  # the debug executor ran its job too
    assert "summary (events by kind):" in out
    assert "Traceback" not in done.stderr
