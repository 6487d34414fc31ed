"""Executors by alias, class path, registration and entry point; options checked up front."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncz_queue import AsyncIOScheduler, Job
from asyncz_queue.exceptions import ConfigurationError
from asyncz_queue.executors import EXECUTORS, ProcessPoolExecutor, ThreadPoolExecutor
from tests.executors import jobfuncs

PLUGIN = Path(__file__).parent / "plugin_pkg"


@pytest.mark.parametrize(
    ("alias", "cls"),
    [
        ("threadpool", ThreadPoolExecutor),
        ("pool", ThreadPoolExecutor),
        ("processpool", ProcessPoolExecutor),
    ],
)
def test_pool_aliases_build_the_pool_executors_with_their_options(alias: str, cls: type) -> None:
    scheduler = AsyncIOScheduler(executors={"x": {"type": alias, "max_workers": 3, "timeout": 2}})
    executor = scheduler.executors["x"]
    assert type(executor) is cls
    assert (executor.name, executor.max_workers, executor.timeout) == ("x", 3, 2)


def test_process_pool_options_arrive_from_a_config_dict() -> None:
    config = {"type": "processpool", "max_jobs_per_worker": 10, "memory_limit": 1 << 30}
    executor = AsyncIOScheduler(executors={"cpu": config}).executors["cpu"]
    assert isinstance(executor, ProcessPoolExecutor)
    assert (executor.max_jobs_per_worker, executor.memory_limit) == (10, 1 << 30)


@pytest.mark.parametrize(
    ("config", "option"),
    [
        ({"type": "threadpool", "max_workers": 0}, "'max_workers'"),
        ({"type": "threadpool", "timeout": -1}, "'timeout'"),
        ({"type": "asyncio", "timeout": float("inf")}, "'timeout'"),
        ({"type": "threadpool", "max_worker": 2}, "'max_worker'"),
        ({"type": "processpool", "max_workers": 0}, "'max_workers'"),
        ({"type": "processpool", "timeout": -0.5}, "'timeout'"),
        ({"type": "processpool", "max_jobs_per_worker": 0}, "'max_jobs_per_worker'"),
        ({"type": "processpool", "memory_limit": "1GB"}, "'memory_limit'"),
        ({"type": "processpool", "memory_limit": 1024}, "'memory_limit'"),
        ({"type": "processpool", "start_method": "fork"}, "'start_method'"),
        ({"type": "processpool", "workers": 2}, "'workers'"),
    ],
)
def test_bad_options_fail_when_the_scheduler_is_built_naming_executor_and_option(
    config: dict[str, object], option: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        AsyncIOScheduler(executors={"cpu": config})
    assert "executor 'cpu'" in str(caught.value)
    assert option in str(caught.value)


def _install(tmp_path: Path) -> Path:
    """Install the test plugin the way pip lays it out: code plus a `.dist-info`."""
    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
    site = tmp_path / "site-packages"
    package = site / "myexec_plugin"
    package.mkdir(parents=True)
    source = PLUGIN / "src" / "myexec_plugin" / "__init__.py"
    (package / "__init__.py").write_text(source.read_text())
    dist_name = project["name"].replace("-", "_")
    info = site / f"{dist_name}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return site


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(_install(tmp_path)))
    # The registry reads the entry points once; let it read them again with the plugin in.
    monkeypatch.setattr(EXECUTORS, "_entry_points_loaded", False)
    monkeypatch.setattr(EXECUTORS, "_targets", dict(EXECUTORS._targets))
    yield
    sys.modules.pop("myexec_plugin", None)


@pytest.mark.anyio
async def test_an_installed_package_adds_an_executor_through_its_entry_point(
    installed_plugin: None,
) -> None:
    assert "myexec" in EXECUTORS.aliases()
    scheduler = AsyncIOScheduler(executors={"default": {"type": "myexec", "tag": "t"}})
    executor = scheduler.executors["default"]
    assert type(executor).__module__ == "myexec_plugin" and executor.tag == "t"  # type: ignore[attr-defined]
    async with scheduler:
        ref = await scheduler.push(Job.from_func(jobfuncs.pair, args=("a", "b")))
        assert await ref.result(timeout=10) == ["b", "a"]
