"""Deploy and run ingest on a real Modal account (skipped without one).

For anyone with a Modal account: set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET (``modal token
new`` prints them) and run ``pytest tests/test_modal_live.py``. It deploys an app of its
own, with volumes of its own, runs ingest on the bundled example clip on a CPU worker
(pennies), checks the plate against a local run, and removes the app and the volumes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from pathlib import Path

import pytest

from conftest import EXAMPLES

pytestmark = pytest.mark.skipif(
    not os.environ.get("MODAL_TOKEN_ID"),
    reason="needs a Modal account: set MODAL_TOKEN_ID/MODAL_TOKEN_SECRET",
)


def test_deploy_and_run_ingest_on_modal(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import modal

    name = f"vfx-ingest-test-{uuid.uuid4().hex[:8]}"
    volumes = {"MODELS_VOLUME": f"{name}-models", "SHOTS_VOLUME": f"{name}-shots"}
    monkeypatch.setenv("VFX_INGEST_MODAL__APP_NAME", name)
    for key, volume in volumes.items():
        monkeypatch.setenv(f"VFX_INGEST_MODAL__{key}", volume)
    clip = EXAMPLES / "courtyard.mp4"
    try:
        deployed = cli("deploy", "modal", "--json")
        assert deployed.exit_code == 0, deployed.stderr
        assert cli.json_lines(deployed.stdout)[0]["classes"][0]["functions"] == ["Cpu.run_job"]

        args = ("--end", "1012", "--max-size", "320")
        remote = cli("run", clip, "--shot", tmp_path / "m", "--backend", "modal", *args, "--json")
        assert remote.exit_code == 0, remote.stderr
        record = cli.json_lines(remote.stdout)[-1]["records"][0]
        assert record["backend"] == "modal" and record["stats"]["modal"]["seconds"] > 0
        assert cli("run", clip, "--shot", tmp_path / "l", *args).exit_code == 0
        for plate in (tmp_path / "l" / "plate").iterdir():
            here = hashlib.sha256(plate.read_bytes()).hexdigest()
            there = (tmp_path / "m" / "plate" / plate.name).read_bytes()
            assert hashlib.sha256(there).hexdigest() == here
    finally:
        with contextlib.suppress(modal.exception.NotFoundError):
            modal.App.lookup(name).stop()
        for volume in volumes.values():
            modal.Volume.objects.delete(volume, allow_missing=True)
