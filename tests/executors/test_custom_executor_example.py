"""The custom-executor example of the docs runs, in this process and on its own."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from asyncz_queue.jobs import Job
from tests.executors.support import Outcomes

EXAMPLE = Path(__file__).resolve().parents[2] / "docs_src" / "executors" / "custom_executor.py"


@pytest.fixture
def example() -> Iterator[ModuleType]:
    name = "docs_custom_executor_example"
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so that its functions are importable by reference
    spec.loader.exec_module(module)
    yield module
    del sys.modules[name]


@pytest.mark.anyio
async def test_the_example_executor_imports_and_calls_the_function(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    executor = example.TimingExecutor(label="[t]")
    outcomes = Outcomes()
    jobs = [Job.from_func(example.add, args=(1, 2)), Job.from_func(example.greet, args=("x",))]
    for job in jobs:
        executor.submit(job, outcomes)
    assert [await outcomes.result(job) for job in jobs] == [3, "hello x"]
    assert capsys.readouterr().out.splitlines() == [
        "[t] add took under a second",
        "[t] greet took under a second",
    ]


@pytest.mark.anyio
async def test_the_example_main_runs_through_a_scheduler(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    await example.main()
    assert capsys.readouterr().out.splitlines() == [
        "[timing] add took under a second",
        "5",
        "[timing] greet took under a second",
        "hello executor",
    ]


def test_the_example_runs_as_a_script() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "hello executor"
