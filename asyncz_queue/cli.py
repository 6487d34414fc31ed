"""The `asyncz-queue` command line (also `python -m asyncz_queue`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence


def _demo(args: argparse.Namespace) -> int:
    from asyncz_queue.demo import run_demo

    asyncio.run(run_demo(args.seconds))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="asyncz-queue", description="Run and inspect asyncz_queue schedulers."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the memory-store demo (about 10 seconds)")
    demo.add_argument("--seconds", type=float, default=10.0, help="how long to run")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
