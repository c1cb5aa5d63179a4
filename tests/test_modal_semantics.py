"""The Modal double keeps Modal's documented rules, so that code which breaks them fails
here: volume writes are seen elsewhere only after ``commit()`` there and ``reload()``
here, ``reload()`` fails while files are open, a container starts with the image's
environment and the app's named secrets only, and ``modal.is_local()`` is false in it.

Against the double of Modal's servers (modal_double.py; Modal cannot be reached from CI).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modal_volumes import MountedVolume
from vfx_ingest.backends.modal import seam
from vfx_ingest.stages import REGISTRY

from modal_double import FakeModal
from modal_stages import ENVIRON


def test_a_write_is_seen_elsewhere_after_commit_there_and_reload_here(tmp_path: Path):
    committed = tmp_path / "volume"
    one = MountedVolume(committed, tmp_path / "c1" / "view")
    two = MountedVolume(committed, tmp_path / "c2" / "view")
    one.mount()
    two.mount()
    (one.view / "shot").mkdir()
    (one.view / "shot" / "a.txt").write_text("from one")
    two.reload()
    assert not (committed / "shot" / "a.txt").exists() and not (two.view / "shot").exists()
    one.commit()
    assert (committed / "shot" / "a.txt").read_text() == "from one"
    assert not (two.view / "shot").exists()  # mounted before the commit, not reloaded
    two.reload()
    assert (two.view / "shot" / "a.txt").read_text() == "from one"
    (two.view / "shot" / "a.txt").unlink()  # a deletion travels the same way
    two.commit()
    one.reload()
    assert not (one.view / "shot" / "a.txt").exists()


def test_reload_fails_while_a_file_on_the_volume_is_open(tmp_path: Path):
    volume = MountedVolume(tmp_path / "volume", tmp_path / "c1" / "view")
    volume.mount()
    (volume.view / "f").write_text("x")
    with (volume.view / "f").open(), pytest.raises(RuntimeError, match="open files"):
        volume.reload()
    volume.reload()  # closed: fine


@pytest.fixture
def deployed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli) -> Iterator[FakeModal]:
    double = FakeModal(tmp_path / "modal")
    double.root.mkdir()
    monkeypatch.setattr(seam, "connect", lambda: double)
    monkeypatch.setitem(REGISTRY, "environ", ENVIRON)
    monkeypatch.setenv("VFX_TEST_STAGES", "1")
    monkeypatch.setenv("VFX_INGEST_MODAL__SECRETS", '["hub-token"]')
    double.secrets["hub-token"] = {"HF_TOKEN": "hf_secret_for_the_workers_only"}
    result = cli("deploy", "modal", "--json")
    assert result.exit_code == 0, result.stderr
    yield double
    double.stop_all()


def test_a_warm_container_sees_a_later_upload_through_its_reload(deployed, cli, clips, tmp_path):
    """The second run's clip is uploaded after the container mounted the volume (during
    the first run): the worker sees it only because it reloads before each job."""
    for name, width in (("a", 64), ("b", 80)):
        shot = tmp_path / name
        clip = clips(frames=3, width=width)
        result = cli("run", clip, "--shot", shot, "--stages", "ingest", "--backend", "modal")
        assert result.exit_code == 0, result.stderr
        assert len(list((shot / "plate").glob("plate.*.png"))) == 3
    (container,) = deployed.containers
    assert [c.object_id for c in deployed.calls] == ["fc-0", "fc-1"]
    assert all(c.container is container for c in deployed.calls)


def test_the_worker_sees_the_image_environment_and_named_secrets_only(
    deployed, cli, clips, tmp_path, monkeypatch
):
    client_only = {
        "RUNPOD_API_KEY": "rpa_client_key_000000",
        "AWS_SECRET_ACCESS_KEY": "client-aws-secret",
        "VFX_INGEST_MODELS_DIR": str(tmp_path / "client-models"),
        "VFX_INGEST_S3__SECRET_ACCESS_KEY": "client-s3-secret",
        "CLIENT_ONLY": "1",
    }
    for name, value in client_only.items():
        monkeypatch.setenv(name, value)
    shot = tmp_path / "shot"
    assert cli("run", clips(frames=3), "--shot", shot).exit_code == 0
    result = cli(
        "run", clips(frames=3), "--shot", shot, "--stages", "environ", "--backend", "modal"
    )
    assert result.exit_code == 0, result.stderr
    seen = json.loads((shot / "environ" / "environ.json").read_text())
    names = set(seen["names"])
    assert not names & ({*client_only} - {"VFX_INGEST_MODELS_DIR"})
    assert not {n for n in names if n.startswith(("XDG_", "VFX_INGEST_S3", "AWS_"))}
    assert "HF_TOKEN" in names  # the named secret
    (container,) = deployed.containers
    # The image's models folder in the container's view of the models volume; its own home.
    assert seen["paths"]["VFX_INGEST_MODELS_DIR"].startswith(f"{container.models.view}/")
    assert seen["paths"]["HOME"] == str(container.folder / "home")
