"""A run stopped without any cleanup (SIGKILL, a machine going down): `status` tells the
truth about it, and the next run repairs what it left half done."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from test_resume import start_exr_ingest
from vfx_ingest import atomic

from conftest import child_env

CRASH_IN_SWAP = """
import os, signal, sys
from vfx_ingest import atomic

def swap_then_die(new, dest):
    # The first rename of the swap, then the process dies before the second.
    dest.rename(atomic._temp_sibling(dest))
    os.kill(os.getpid(), signal.SIGKILL)

atomic.swap_dir = swap_then_die
sys.argv = ["vfx-ingest", *sys.argv[1:]]
from vfx_ingest.cli import main
main()
"""


def status_json(cli, shot: Path) -> dict:
    result = cli("status", shot, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_a_killed_run_shows_as_interrupted_not_running(cli, clips, tmp_path):
    clip = clips("big.mp4", frames=48, width=1280, height=720)
    shot = tmp_path / "shot"
    _, proc = start_exr_ingest(clip, shot, "-q")
    while_running = status_json(cli, shot)["stages"]["ingest"]
    assert while_running["status"] == "running" and while_running["pid"] == proc.pid
    assert f"pid {proc.pid} on " in (shot / ".vfx-ingest.lock").read_text()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    after = status_json(cli, shot)["stages"]["ingest"]
    assert after["status"] == "interrupted" and f"pid {proc.pid}" in after["error"]
    shown = cli("status", shot)
    assert "interrupted" in shown.stdout and "the next run resumes" in " ".join(
        shown.stdout.split()
    )
    # What is on disk still says `running`: status changes nothing.
    assert json.loads((shot / "shot.json").read_text())["stages"]["ingest"]["status"] == "running"


def test_a_crash_between_the_renames_of_a_swap_is_rolled_back(cli, clips, tmp_path):
    clip, shot = clips(frames=6), tmp_path / "shot"
    assert cli("run", clip, "--shot", shot).exit_code == 0
    before = {p.name: p.read_bytes() for p in (shot / "plate").iterdir()}
    args = ["run", str(clip), "--shot", str(shot), "--every", "2", "--force", "-q"]
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_IN_SWAP, *args], env=child_env(), timeout=120
    )
    assert crashed.returncode == -signal.SIGKILL
    assert not (shot / "plate").exists()
    ((dest, aside),) = atomic.set_aside(shot)
    assert dest == shot / "plate" and aside.name.startswith(".plate.tmp-")

    shown = cli("status", shot)
    text = " ".join(shown.stdout.split())
    assert "plate/ is missing" in text and "is kept" not in text
    assert status_json(cli, shot)["stages"]["ingest"]["status"] == "interrupted"

    # The next run puts the earlier pass back and finds it cached: nothing lost.
    again = cli("run", clip, "--shot", shot, "--json")
    assert again.exit_code == 0, again.stderr
    assert [e["status"] for e in cli.json_lines(again.stdout) if e["type"] == "stage"] == ["cached"]
    assert {p.name: p.read_bytes() for p in (shot / "plate").iterdir()} == before
    assert atomic.set_aside(shot) == []
    assert "is missing" not in cli("status", shot).stdout


def test_a_crash_after_the_new_pass_is_in_place_finishes_the_swap(tmp_path):
    new, dest = tmp_path / "new", tmp_path / "plate"
    for folder, name in ((new, "new.png"), (dest, "old.png")):
        folder.mkdir()
        (folder / name).write_bytes(b"x")
    aside = atomic._temp_sibling(dest)
    dest.rename(aside)
    new.rename(dest)  # ...and the process died before removing the old pass
    (repair,) = atomic.finish_swaps(tmp_path)
    assert "removed" in repair and not aside.exists()
    assert [p.name for p in dest.iterdir()] == ["new.png"]
