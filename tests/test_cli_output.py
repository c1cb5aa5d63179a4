"""What a new user reads from the CLI (issue 17, items 23-28): the run's result line, the
progress and done lines, help text, tables at 80 columns, model sizes, configuration typos,
and a shot folder left tidy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest


def test_run_json_result_names_the_shot_folder(cli, clips, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    clip = clips(frames=3)
    result = cli("run", clip, "--json")  # default shot folder: ./<clip name>
    assert result.exit_code == 0, result.stderr
    final = json.loads(result.stdout.splitlines()[-1])
    assert final["type"] == "result"
    assert Path(final["shot"]) == tmp_path / clip.stem
    assert (Path(final["shot"]) / "shot.json").is_file()


def test_cached_line_says_the_time_is_the_earlier_runs(cli, clips, tmp_path):
    clip, shot = clips(frames=3), tmp_path / "shot"
    first = cli("run", clip, "--shot", shot)
    assert re.search(r"ingest: done \(1001-1003, \d+\.\d s\)", first.stderr), first.stderr
    again = cli("run", clip, "--shot", shot)
    line = next(x for x in again.stderr.splitlines() if "ingest: cached" in x)
    assert re.search(r"made in \d+\.\d s earlier", line), line


def test_a_finished_run_leaves_no_staging_folder_or_lock_file(cli, clips, tmp_path):
    shot = tmp_path / "shot"
    assert cli("run", clips(frames=3), "--shot", shot).exit_code == 0
    assert sorted(p.name for p in shot.iterdir()) == ["plate", "shot.json"]


def test_lock_released_by_a_holder_is_taken_afresh(tmp_path):
    from vfx_ingest.errors import ShotBusy
    from vfx_ingest.shot import LOCK_NAME, ShotFolder

    shot = ShotFolder(tmp_path)
    with shot.lock():
        assert (tmp_path / LOCK_NAME).read_text().startswith("pid ")
        with pytest.raises(ShotBusy), ShotFolder(tmp_path).lock():
            pass
    assert not (tmp_path / LOCK_NAME).exists()
    with shot.lock():  # and again, on a new lock file
        assert (tmp_path / LOCK_NAME).exists()


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[params.ingest]\nfirs_frame = 1\n", "params.ingest.firs_frame"),
        ("[params.ingst]\nfirst_frame = 1\n", "params.ingst"),
        ("[cost]\nstale_aftr_days = 3\n", "cost.stale_aftr_days"),
        ("backnd = 'local'\n", "backnd"),
    ],
)
def test_a_typo_in_the_project_file_is_caught_naming_the_file(
    cli, clips, isolated_config, toml, key
):
    project = isolated_config / "vfx-ingest.toml"
    project.write_text(toml)
    for args in (("config", "show"), ("run", clips(frames=3))):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stdout)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(project) in lines[0] and key in lines[0], lines
    assert not (isolated_config / clips(frames=3).stem).exists()  # nothing written


def every_command():
    from vfx_ingest.cli import COMMANDS, load_command

    for name in COMMANDS:
        command = load_command(name)
        yield (name,), command
        for sub, subcommand in getattr(command, "commands", {}).items():
            yield (name, sub), subcommand


def test_help_has_no_placeholders_for_flags_braces_or_parenthesised_defaults(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    for path, command in every_command():
        text = cli(*path, "--help").stdout
        usage = text.split("Usage:")[1].splitlines()[0]
        assert "{" not in usage, (path, usage)
        for wrong in ("<bool>", "[default: ("):
            assert wrong not in text, (path, wrong)
        for param in command.params:
            if param.param_type_name == "argument":
                shown = param.name.upper() if param.required else f"[{param.name.upper()}]"
                assert shown in usage, (path, usage)


def test_group_help_ends_with_examples(cli):
    groups = [path for path, command in every_command() if getattr(command, "commands", None)]
    assert groups
    for path in groups:
        text = cli(*path, "--help").stdout
        assert "Examples:" in text and f"vfx-ingest {path[0]} " in text.split("Examples:")[1]


def test_stage_and_backend_options_list_the_registries():
    from vfx_ingest.backends import BACKENDS
    from vfx_ingest.cli.storage_cmd import CLEANERS, LISTERS
    from vfx_ingest.stages import REGISTRY

    # Commands that work through one backend hook list the backends they serve.
    hooked = {("storage", "list"): LISTERS, ("storage", "gc"): CLEANERS}
    seen = []
    for path, command in every_command():
        for param in command.params:
            if "--stages" in param.opts:
                assert all(name in param.help for name in REGISTRY), (path, param.help)
                seen.append(path)
            if "--backend" in param.opts:
                names = hooked.get(path, list(BACKENDS))
                assert names and all(name in param.help for name in names), (path, param.help)
                seen.append(path)
    assert {("run",), ("cost",), ("models", "sync")} <= set(seen)


def test_quality_explains_its_presets_itself():
    from vfx_ingest.camera.presets import PRESETS
    from vfx_ingest.stages.camera import CameraParams

    text = CameraParams.model_fields["quality"].description
    assert "README" not in text
    for name, preset in PRESETS.items():
        assert name in text and str(preset.max_features) in text


def natural_width(renderable) -> int:
    """The width a renderable takes when nothing limits it: at most 80 means that in an
    80-column terminal no cell wraps."""
    from rich.console import Console

    return Console(width=400).measure(renderable).maximum


def test_stages_status_and_cost_tables_fit_80_columns(cli, clips, tmp_path):
    from vfx_ingest.cli.tables import estimate_footer, estimate_table, stages_table, status_table
    from vfx_ingest.config import load_settings
    from vfx_ingest.cost.estimate import ClipPlan, Estimator
    from vfx_ingest.manifest import Manifest
    from vfx_ingest.stages import REGISTRY, with_dependencies

    stages = stages_table(REGISTRY.values())
    assert natural_width(stages.renderables[0]) <= 80
    texts = [str(line) for line in stages.renderables[1:]]
    assert all(f"{name}: {spec.summary}" in texts for name, spec in REGISTRY.items())

    shot = tmp_path / "shot"
    assert cli("run", clips(frames=3), "--shot", shot).exit_code == 0
    manifest = Manifest.model_validate_json((shot / "shot.json").read_text())
    record = manifest.stages["ingest"]
    record.error = "a long error message that would have made the note column wrap " * 2
    status = status_table(manifest, shot)
    assert natural_width(status.renderables[0]) <= 80
    assert any(record.error in str(line) for line in status.renderables[1:])

    settings = load_settings(cost={"history_db": tmp_path / "history.sqlite"})
    specs = with_dependencies(["depth"])
    plan = ClipPlan(
        clip="clip.mp4", source_bytes=10**6, frames=96, width=640, height=360,
        stages=[s.name for s in specs],
    )  # fmt: skip
    report = Estimator(settings).report(plan, specs)
    assert len(report.rows) > 10
    assert natural_width(estimate_table(report)) <= 80
    footer = estimate_footer(report, settings.cost.stale_after_days)
    assert sum(line.startswith(("cheapest: ", "fastest: ")) for line in footer) == 2


def test_models_list_shows_sizes_from_the_lock_or_an_estimate(cli, isolated_config):
    from vfx_ingest.models.registry import load_registry
    from vfx_ingest.stages import REGISTRY

    listed = {m["id"]: m for m in cli.json_lines(cli("models", "list", "--json").stdout)}
    defaults = [m for m in listed.values() if m["default"] and m["stage"] in REGISTRY]
    assert defaults and all(m["size"] and m["size_from"] == "estimate" for m in defaults)
    # vda-small's description states 28.4M parameters: a float32 checkpoint of about that.
    assert listed["vda-small"]["size"] == pytest.approx(28.4e6 * 4, rel=1e-6)
    entry = load_registry().get("vda-small")
    files = {f.path: {"sha256": "0" * 64, "bytes": 116_123_456} for f in entry.files}
    lock = {
        "schema_version": 1,
        "models": {"vda-small": {"source": "test", "files": files, "digest": "x"}},
    }
    (isolated_config / "models.lock").write_text(json.dumps(lock))
    listed = {m["id"]: m for m in cli.json_lines(cli("models", "list", "--json").stdout)}
    assert (listed["vda-small"]["size"], listed["vda-small"]["size_from"]) == (116_123_456, "lock")
    table = cli("models", "list").stdout
    assert "116.1 MB" in table and "?" not in table


def test_camera_progress_goes_forward_through_named_phases(solved_shot, cli):
    events = [
        e
        for e in cli.json_lines(solved_shot.result.stdout)
        if e["type"] == "progress" and e["stage"] == "camera"
    ]
    done = [e["done"] for e in events]
    assert len(events) > 2 and done == sorted(done)  # never drops back between phases
    assert len({e["total"] for e in events}) == 1 and done[-1] == events[-1]["total"]
    assert events[0]["message"].startswith("features ") and events[-1]["message"] == "solved"


def test_done_line_and_status_show_the_solves_quality(solved_shot, cli):
    quality = r"19/20 frames registered, reprojection error \d+\.\d\d px, focal 28\.0 mm"
    again = cli("run", solved_shot.clip, *solved_shot.options)  # cached: the same record
    assert again.exit_code == 0, again.stderr
    assert re.search(
        rf"camera: cached \(1001-1020, made in [\d.]+ s earlier, {quality}", again.stderr
    )
    status = cli("status", solved_shot.shot)
    assert re.search(rf"camera solve: {quality} \(fixed\)", status.stdout), status.stdout


def test_progress_bar_shows_the_phase_a_stage_names():
    from vfx_ingest.cli.progress import HumanProgress
    from vfx_ingest.job import ProgressEvent, StageEvent

    display = HumanProgress()
    for stage in ("camera", "ingest"):
        display(StageEvent(stage=stage, status="started"))
    display(ProgressEvent(stage="camera", done=45, total=80, message="registering 5/20"))
    display(ProgressEvent(stage="ingest", done=3, total=10))
    display(ProgressEvent(stage="ingest", done=0, total=10, message="note: a licence"))
    tasks = {t.description: t for t in display.progress.tasks}
    assert tasks["camera"].fields["amount"] == "registering 5/20"
    assert tasks["camera"].completed == 45 and tasks["camera"].total == 80
    assert tasks["ingest"].fields["amount"] == "0/10 frames"  # a note is not a phase


def test_json_stdout_stays_json_when_a_native_library_prints():
    """OpenBLAS and COLMAP write to file descriptor 1 themselves (seen: "BLAS : Bad memory
    unallocation!" in the middle of a `run --json` stream); with --json that lands on stderr."""
    import subprocess
    import sys

    from conftest import child_env

    code = (
        "import os\n"
        "from vfx_ingest.cli.output import emit_json, keep_stdout_for_json\n"
        "keep_stdout_for_json()\n"
        "os.write(1, b'native noise\\n')\n"
        "emit_json({'type': 'result'})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env(), timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"type":"result"}\n'
    assert "native noise" in done.stderr
