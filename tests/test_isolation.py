"""Tests never touch the user's own folders, and the cost history learns only from whole
runs (a resumed or cached one would make a stage look faster than it is)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from vfx_ingest import pipeline
from vfx_ingest.config import (
    default_history_db,
    default_models_dir,
    load_settings,
    user_config_path,
)
from vfx_ingest.cost.history import History
from vfx_ingest.job import ProgressEvent, StageEvent
from vfx_ingest.shot import ShotFolder
from vfx_ingest.stages.base import Cancelled

from conftest import HOME_VARIABLES, REAL_ENV


def real_folders() -> list[Path]:
    """The user's own folders, as the environment the tests started in names them."""
    home = Path(REAL_ENV.get("HOME") or Path("~").expanduser())
    defaults = {"XDG_CONFIG_HOME": ".config", "XDG_CACHE_HOME": ".cache"}
    defaults |= {"XDG_DATA_HOME": ".local/share", "XDG_STATE_HOME": ".local/state"}
    return [home] + [Path(REAL_ENV.get(name) or home / rel) for name, rel in defaults.items()]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every vfx-ingest file under ``folder``: (size, mtime)."""
    found = {}
    for root in (folder / "vfx-ingest", folder / ".cache" / "vfx-ingest"):
        for path in root.rglob("*") if root.is_dir() else ():
            if path.is_file():
                st = path.stat()
                found[str(path)] = (st.st_size, st.st_mtime_ns)
    return found


def test_every_user_folder_points_into_the_test(isolated_config, tmp_path):
    import os

    for name in HOME_VARIABLES:
        assert Path(os.environ[name]).is_relative_to(tmp_path), name
    assert Path.home().is_relative_to(tmp_path)
    for path in (user_config_path(), default_models_dir(), default_history_db()):
        assert path.is_relative_to(tmp_path), path
        assert not any(path.is_relative_to(real) for real in real_folders()), path


def test_a_run_writes_its_history_in_the_test_home_only(clips, tmp_path):
    before = {str(f): snapshot(f) for f in real_folders()}
    request = pipeline.RunRequest(clip=clips(frames=4), shot=tmp_path / "shot")
    assert pipeline.run(request, load_settings(), lambda e: None).status == "ok"
    assert len(History(load_settings().cost.history_db).runs()) == 1
    assert {str(f): snapshot(f) for f in real_folders()} == before


def test_resumed_and_cached_runs_do_not_calibrate_throughput(clips, tmp_path):
    clip, history = clips(frames=24), History(load_settings().cost.history_db)
    request = pipeline.RunRequest(
        clip=clip, shot=tmp_path / "shot", params={"ingest": {"workers": 1}}
    )
    cancel = threading.Event()
    ends: list[str] = []

    def stop_early(event: object) -> None:
        if isinstance(event, ProgressEvent) and event.done >= 5:
            cancel.set()
        if isinstance(event, StageEvent) and event.status != "started":
            ends.append(event.status)

    with pytest.raises(Cancelled):
        pipeline.run(request, load_settings(), stop_early, cancel)
    assert ends == ["interrupted"]
    # The stopped run is billed for what ran, and never learned from.
    stopped = ShotFolder(tmp_path / "shot").load_manifest().stages["ingest"]  # type: ignore[union-attr]
    assert stopped.status == "interrupted" and stopped.price is not None
    assert stopped.price.billed_s == stopped.wall_s and history.runs() == []
    resumed = pipeline.run(request, load_settings(), lambda e: None).records[0]
    assert resumed.status == "done" and resumed.stats["resumed"] >= 5
    cached = pipeline.run(request, load_settings(), lambda e: None)
    assert cached.status == "ok"
    assert history.runs() == []

    whole = pipeline.RunRequest(clip=clip, shot=tmp_path / "other")
    pipeline.run(whole, load_settings(), lambda e: None)
    (row,) = history.runs()
    assert row.stage == "ingest" and row.frames == 24


def test_resumed_runs_are_recognised_from_their_stats():
    from vfx_ingest.cost.actuals import resumed
    from vfx_ingest.manifest import StageRecord

    def record(stats: dict) -> StageRecord:
        return StageRecord(
            stage="depth",
            version="1",
            status="done",
            params={},
            cache_key="k",
            inputs={},
            stats=stats,
        )

    assert not resumed(record({"frames": 10, "resumed": 0}))
    assert resumed(record({"resumed": True}))
    assert resumed(record({"resumed_frames": 3}))
    assert resumed(record({"chunks": [{"frames": [1, 2]}, {"frames": [3, 4], "resumed": True}]}))


def test_nothing_in_the_repository_refers_to_files_outside_it():
    """A clone anywhere must pass: no test, doc or link reaches beside the repository."""
    from conftest import REPO

    texts = [*(REPO / "tests").glob("*.py"), REPO / "README.md", *(REPO / "docs").glob("*.md")]
    for path in (p for p in texts if p != Path(__file__)):  # this one names them
        text = path.read_text()
        for outside in ("../shared", '"shared"', "parents[1].parent", "parents[2]"):
            assert outside not in text, f"{path.name} refers to {outside}"
    assert (REPO / "tests" / "fixtures" / "vda" / "README.md").is_file()
