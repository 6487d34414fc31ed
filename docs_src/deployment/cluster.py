"""One web process and two workers on one database.

The "web" side runs here with the role "scheduler": it fires the tasks and pushes jobs but
runs none. The workers are separate processes started with the command line, exactly as a
process manager (systemd, a container, a Procfile) would start them.
"""

import asyncio
import os
import signal
import subprocess
import sys

from myapp import make_scheduler, send_invoice

from asyncz_queue import Job


async def start_worker(name: str) -> subprocess.Popen[str]:
    """Start `asyncz-queue worker myapp:worker` and wait until it says it has started."""
    process = subprocess.Popen(
        [sys.executable, "-m", "asyncz_queue", "worker", "myapp:worker", "--grace", "10"],
        env={**os.environ, "WORKER_NAME": name},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    while "started" not in (line := await asyncio.to_thread(process.stderr.readline)):
        if not line:
            raise RuntimeError(f"worker {name} exited with {process.wait()}")
    return process


async def main() -> None:
    web = make_scheduler("scheduler")
    await web.migrate()  # once per deployment, before the workers start
    workers = [await start_worker(name) for name in ("alpha-worker", "beta-worker")]
    try:
        async with web:
            refs = await web.push_many(
                [Job.from_func(send_invoice, args=[order]) for order in range(1, 21)]
            )
            results = [await ref.result(timeout=15) for ref in refs]
        print(results[0].split(" sent")[0], "...", results[-1].split(" sent")[0])
        print("workers used:", sorted({text.rsplit(" ", 1)[-1] for text in results}))
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)  # graceful: running jobs finish first
        print("worker exit codes:", [process.wait(timeout=15) for process in workers])


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# invoice 1 ... invoice 20
# workers used: ['alpha', 'beta']
# worker exit codes: [0, 0]
