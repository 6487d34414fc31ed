"""The `asyncz-queue` command line (also `python -m asyncz_queue`).

Subcommands: `demo`, `worker APP`, `migrate`, `tasks`, `jobs`, `jobs prune`, `status`.
Failures print one line on stderr (never a traceback or a password) and exit non-zero:
1 when something went wrong, 2 for bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from asyncz_queue._cli_common import DSN_ENV, CommandError
from asyncz_queue._options import MAX_SECONDS
from asyncz_queue.jobs import INT32_MAX, JobState

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def _demo(args: argparse.Namespace) -> int:
    from asyncz_queue.demo import run_demo

    asyncio.run(run_demo(args.seconds))
    return 0


def _worker(args: argparse.Namespace) -> int:
    from asyncz_queue._cli_worker import run_worker

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return run_worker(args.app, args.grace, args.progress)


def _inspect(name: str) -> Callable[[argparse.Namespace], int]:
    """A handler that runs the coroutine `_cli_inspect.<name>(args)` (imported when used)."""

    def handler(args: argparse.Namespace) -> int:
        from asyncz_queue import _cli_inspect

        command: Handler = getattr(_cli_inspect, name)
        return asyncio.run(command(args))

    return handler


def _at_least_zero(
    convert: Callable[[str], Any], what: str, most: float = math.inf
) -> Callable[[str], Any]:
    """An argparse type: `convert(text)`, refusing text that is not `what` or is below 0 (or
    above `most`, or NaN)."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not 0 <= value <= most:
            limit = "" if most == math.inf else f" and at most {most:.0f}"
            raise argparse.ArgumentTypeError(f"expected {what} >= 0{limit}, got {text!r}")
        return value

    return parse


_seconds = _at_least_zero(float, "a number of seconds", MAX_SECONDS)
_count = _at_least_zero(int, "a whole number", INT32_MAX)


def _store_options(nested: bool = False) -> argparse.ArgumentParser:
    """Options of every command that reads a store: where it is, and the output format.

    `nested` (for `jobs prune`) leaves the options it is not given to the parent command,
    so that `jobs --dsn X prune` and `jobs prune --dsn X` mean the same.
    """

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if nested else value

    parent = argparse.ArgumentParser(add_help=False)
    where = parent.add_argument_group("store (PostgreSQL by default)")
    source = where.add_mutually_exclusive_group()
    source.add_argument(
        "--dsn",
        default=default(None),
        metavar="DSN",
        help=f"PostgreSQL connection string (default: ${DSN_ENV})",
    )
    source.add_argument(
        "--app",
        default=default(None),
        help="use a store of this scheduler instead (package.module:attribute)",
    )
    where.add_argument(
        "--schema",
        default=default("asyncz_queue"),
        help="PostgreSQL schema (default: asyncz_queue)",
    )
    where.add_argument("--store", default=default("default"), help="with --app: the store's name")
    parent.add_argument(
        "--json", action="store_true", default=default(False), help="print JSON for scripts"
    )
    return parent


def _add_worker(commands: Any) -> None:
    worker = commands.add_parser(
        "worker",
        help="run a scheduler until SIGINT/SIGTERM",
        description="Run the scheduler APP until SIGINT or SIGTERM, then shut down gracefully: "
        "running jobs get --grace seconds to finish; a second signal exits at once.",
    )
    worker.add_argument(
        "app", metavar="APP", help="package.module:attribute of an AsyncIOScheduler"
    )
    worker.add_argument(
        "--grace",
        type=_seconds,
        default=30.0,
        help="seconds running jobs get to finish on "
        "shutdown before they are interrupted and put back (default: %(default)g)",
    )
    shown = worker.add_mutually_exclusive_group()
    shown.add_argument(
        "--progress",
        action="store_true",
        default=None,
        help="show the progress line (default: when stdout is a terminal)",
    )
    shown.add_argument("--no-progress", dest="progress", action="store_false")
    worker.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="(default: %(default)s)",
    )
    worker.set_defaults(handler=_worker)


def _add_inspection(commands: Any) -> None:
    store = _store_options()
    migrate = commands.add_parser("migrate", parents=[store], help="create or upgrade the schema")
    migrate.set_defaults(handler=_inspect("migrate"))
    tasks = commands.add_parser("tasks", parents=[store], help="list the tasks")
    tasks.set_defaults(handler=_inspect("show_tasks"))
    jobs = commands.add_parser("jobs", parents=[store], help="list jobs or show one")
    jobs.add_argument("--state", choices=[state.value for state in JobState])
    jobs.add_argument("--task", metavar="TASK_ID", help="only the jobs of this task")
    jobs.add_argument("--id", metavar="JOB_ID", help="show this job with its errors")
    jobs.add_argument(
        "--limit", type=_count, default=50, help="at most this many (default: %(default)s)"
    )
    jobs.set_defaults(handler=_inspect("show_jobs"))
    actions = jobs.add_subparsers(dest="action", metavar="{prune}")
    prune = actions.add_parser(
        "prune", parents=[_store_options(nested=True)], help="delete old finished jobs"
    )
    prune.add_argument(
        "--older-than",
        type=_seconds,
        required=True,
        metavar="SECONDS",
        help="delete the jobs that finished more than SECONDS ago",
    )
    prune.set_defaults(handler=_inspect("prune_jobs"))
    status = commands.add_parser("status", parents=[store], help="job counts and busy processes")
    status.set_defaults(handler=_inspect("show_status"))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="asyncz-queue", description="Run and inspect asyncz_queue schedulers."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the memory-store demo (about 10 seconds)")
    demo.add_argument("--seconds", type=_seconds, default=10.0, help="how long to run")
    demo.set_defaults(handler=_demo)
    _add_worker(commands)
    _add_inspection(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except CommandError as exc:
        print(f"asyncz-queue {args.command}: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
