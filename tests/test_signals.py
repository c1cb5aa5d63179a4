"""SIGTERM during the camera solve: handled like Ctrl-C (exit 130, the record says
interrupted, no native noise), although pycolmap's glog installs its own handler."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys

from conftest import child_env


def test_sigterm_during_the_camera_solve_is_an_interruption(solved_shot, tmp_path):
    shot = tmp_path / "shot"
    shutil.copytree(solved_shot.shot, shot)
    manifest = json.loads((shot / "shot.json").read_text())
    del manifest["stages"]["camera"]  # so that the solve runs again; ingest stays cached
    (shot / "shot.json").write_text(json.dumps(manifest))
    options = [str(o) for o in solved_shot.options]
    options[options.index("--shot") + 1] = str(shot)
    env = child_env()
    proc = subprocess.Popen(
        [sys.executable, "-m", "vfx_ingest", "run", str(solved_shot.clip), *options, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # stop once pycolmap works: matching, then mapping
        event = json.loads(line)
        if event["type"] == "progress" and event["message"].startswith(("matching", "mapping")):
            proc.send_signal(signal.SIGTERM)
            break
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert lines[-1] == "error: interrupted"
    # No glog stack or log line (OpenBLAS may warn on its own; that is not COLMAP's noise).
    glog = re.compile(r"^(\*\*\*|[IWEF]\d{4} |\s+@\s+0x)|Check failed|Stopping thread")
    assert not [line for line in lines if glog.search(line)], stderr
    record = json.loads((shot / "shot.json").read_text())["stages"]["camera"]
    assert record["status"] == "interrupted" and "interrupted" in record["error"]


def test_importing_pycolmap_keeps_pythons_sigterm_handler():
    code = (
        "import os, signal, time\n"
        "def stop(*a): raise KeyboardInterrupt\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "from vfx_ingest.camera.signals import import_pycolmap\n"
        "import_pycolmap()\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)\n"
        "except KeyboardInterrupt:\n"
        "    print('handled by Python')\n"
    )
    env = child_env()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "handled by Python", done.stderr
