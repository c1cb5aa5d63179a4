"""The worker side of remote jobs: path safety, volume access, digests."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from vfx_ingest import pipeline
from vfx_ingest.backends.remote import RemoteOptions, RemoteRunner, RemoteState
from vfx_ingest.backends.runpod.handler import handle
from vfx_ingest.config import load_settings
from vfx_ingest.digest import file_digest
from vfx_ingest.errors import BadInput
from vfx_ingest.job import Job, ObjectRef, RemoteIO, StageRequest, VolumeAccess, object_key
from vfx_ingest.manifest import Manifest
from vfx_ingest.paths import safe_join
from vfx_ingest.storage import Store
from vfx_ingest.worker import execute

PREFIX = "vfx-ingest/cas/"


def volume_job(clip: Path, mount: Path, *, sha: str | None = None) -> dict[str, Any]:
    """An ingest job whose clip is a file on the volume, as the client would send it."""
    settings = load_settings()
    local = pipeline.plan(pipeline.RunRequest(clip=clip, shot=mount.parent / "client"), settings)
    digest = file_digest(clip)
    key = object_key(PREFIX, digest.sha256)
    (mount / key).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, mount / key)
    source = ObjectRef(
        relpath=".source/clip.mp4", sha256=sha or digest.sha256, size=digest.size, key=key
    )
    job = Job(
        source=local.source.model_copy(update={"path": source.relpath}),  # type: ignore[union-attr]
        stages=[StageRequest(name="ingest", params=local.stages[0].params)],
        backend="runpod-serverless",
        remote=RemoteIO(access=VolumeAccess(), output_prefix=PREFIX, source=source),
    )
    return job.model_dump(mode="json")


@pytest.fixture
def mount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "runpod-volume"
    folder.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("VFX_INGEST_VOLUME_DIR", str(folder))
    monkeypatch.setenv("VFX_INGEST_SCRATCH", str(scratch))
    return folder


def test_a_volume_job_reads_and_writes_content_addressed_files_under_the_mount(
    clips, mount, tmp_path
):
    answer = handle(
        {"id": "j1", "input": {"action": "run", "job": volume_job(clips(frames=5), mount)}},
        lambda p: None,
    )
    assert answer["error"] is None and answer["status"] == "ok"
    outputs = answer["outputs"]
    assert [o["relpath"] for o in outputs] == [f"plate/plate.{n}.png" for n in range(1001, 1006)]
    for obj in outputs:
        stored = mount / obj["key"]
        assert obj["key"] == object_key(PREFIX, obj["sha256"])
        assert file_digest(stored).sha256 == obj["sha256"]
    assert answer["records"][0]["status"] == "done"
    assert list((tmp_path / "scratch").iterdir()) == []  # the scratch shot is gone


def test_an_input_that_does_not_match_its_digest_is_refused(clips, mount):
    job = volume_job(clips(frames=5), mount, sha="0" * 64)
    answer = handle({"id": "j2", "input": {"action": "run", "job": job}}, lambda p: None)
    assert "does not match its digest" in answer["error"]


@pytest.mark.parametrize("bad", ["../evil.png", "/etc/passwd", "plate/../../x", "a\\..\\b", ""])
def test_jobs_with_paths_outside_the_shot_are_refused(clips, mount, bad):
    job = volume_job(clips(frames=5), mount)
    job["remote"]["inputs"] = [dict(job["remote"]["source"], relpath=bad)]
    answer = handle({"id": "j3", "input": {"action": "run", "job": job}}, lambda p: None)
    assert answer["error"].startswith("invalid job (remote.inputs.0.relpath")
    job = volume_job(clips(frames=5), mount)
    job["remote"]["source"]["key"] = "../../outside" if bad else "/abs"
    assert (
        "invalid job"
        in handle({"id": "j4", "input": {"action": "run", "job": job}}, lambda p: None)["error"]
    )


def test_a_worker_never_runs_on_a_path_of_its_own(tmp_path):
    job = Job(shot=str(tmp_path / "anywhere"), stages=[StageRequest(name="ingest")])
    answer = handle(
        {"id": "j5", "input": {"action": "run", "job": job.model_dump(mode="json")}}, lambda p: None
    )
    assert "must carry remote inputs" in answer["error"]
    assert not (tmp_path / "anywhere").exists()
    assert (
        "unknown action" in handle({"id": "j6", "input": {"action": "rm"}}, lambda p: None)["error"]
    )


def test_symlinks_cannot_lead_outside(tmp_path):
    shot, outside = tmp_path / "shot", tmp_path / "outside"
    shot.mkdir()
    outside.mkdir()
    (shot / "plate").symlink_to(outside)
    with pytest.raises(BadInput, match="through a symlink"):
        safe_join(shot, "plate/plate.1001.png")
    assert safe_join(shot, "depth/depth.1001.exr") == (shot / "depth/depth.1001.exr").resolve()


class VolumeTransport:
    """Runs the real handler on a thread with the volume mounted at ``mount``. RunPod's S3
    API and its workers see one network volume; here the bucket (moto) is copied into the
    folder before the job and new files are copied back after it."""

    name = "volume-test"

    def __init__(self, s3: Any, mount: Path) -> None:
        self.s3, self.mount = s3, mount
        self.answers: dict[str, dict] = {}

    def submit(self, payload: dict[str, Any]) -> str:
        self.payload = payload
        for key in self.s3.object_keys():
            (self.mount / key).parent.mkdir(parents=True, exist_ok=True)
            self.s3.client.download_file(self.s3.bucket, key, str(self.mount / key))
        before = {p for p in self.mount.rglob("*") if p.is_file()}

        def work() -> None:
            self.answers["j"] = handle({"id": "j", "input": payload}, lambda p: None)
            for path in {p for p in self.mount.rglob("*") if p.is_file()} - before:
                key = path.relative_to(self.mount).as_posix()
                self.s3.client.upload_file(str(path), self.s3.bucket, key)

        self.thread = threading.Thread(target=work)
        self.thread.start()
        return "j"

    def poll(self, handle: str) -> RemoteState:
        if self.thread.is_alive():
            return RemoteState(status="running")
        answer = self.answers[handle]
        if answer.get("error"):
            return RemoteState(status="failed", error=answer["error"])
        return RemoteState(status="done", output=answer)

    def cancel(self, handle: str) -> None:
        return None


def test_the_client_in_volume_mode_sends_keys_not_urls(s3, clips, mount, tmp_path):
    shot = tmp_path / "shot"
    settings = load_settings()
    job = pipeline.plan(pipeline.RunRequest(clip=clips(frames=5), shot=shot), settings)
    transport = VolumeTransport(s3, mount)
    options = RemoteOptions(volume=True, poll_s=0.02, timeout_s=60)
    runner = RemoteRunner(job, transport, Store(settings.s3), lambda e: None, options)
    result = execute(job, None, None, runner=runner)
    assert result.status == "ok", result.error
    remote = transport.payload["job"]["remote"]
    assert remote["access"] == {"kind": "volume"} and remote["source"]["url"] is None
    assert len(list((shot / "plate").iterdir())) == 5
    record = Manifest.model_validate_json((shot / "shot.json").read_text()).stages["ingest"]
    assert record.stats["remote"]["downloaded_bytes"] == sum(
        d.size for d in record.outputs.values()
    )
    assert not s3.object_keys("vfx-ingest/jobs/")  # no mailbox on a volume
