"""Shared fixtures: real clips encoded with PyAV, an isolated config, the CLI runner."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
# The environment the tests were started in: where the user's own folders are (what
# test_isolation.py checks is never written to).
REAL_ENV = dict(os.environ)
# Every variable that leads to a folder of the user's: the XDG folders (platformdirs, our
# config, models, history, price cache), HOME (what they default to; huggingface_hub,
# torch and pip read it too).
HOME_VARIABLES = ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess running this checkout's package (whatever the
    working directory), with the test's isolated folders."""
    path = os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, **extra}


def isolate(patch: pytest.MonkeyPatch, home: Path) -> None:
    """Point every user folder into ``home`` and drop the developer's own settings."""
    for name in list(os.environ):
        if name.startswith(("VFX_INGEST_", "HF_")) or name in ("RUNPOD_API_KEY", "OCIO"):
            patch.delenv(name)
    for name in HOME_VARIABLES:
        folder = home if name == "HOME" else home / name.removeprefix("XDG_").lower()
        patch.setenv(name, str(folder))


def level(index: int) -> int:
    """The grey level clip frames carry, so a plate frame tells which source frame it is."""
    return 24 + (index * 37) % 200


def frame_image(index: int, width: int, height: int, *, deep: bool = False) -> np.ndarray:
    """A flat frame at ``level(index)`` with a white marker in its top-left corner."""
    image = np.full((height, width, 3), level(index), np.uint8)
    image[: height // 4, : width // 4] = 255
    if deep:
        return image.astype(np.uint16) * 257
    return image


def encode_clip(
    path: Path,
    *,
    frames: int = 12,
    width: int = 64,
    height: int = 48,
    fps: int | Fraction = 24,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rotation: int | None = None,
    timecode: str | None = None,
    times_ms: list[int] | None = None,
    faststart: bool = False,
) -> Path:
    """Encode a test clip with PyAV. ``times_ms`` gives each frame's timestamp (VFR)."""
    import av

    options = {"movflags": "faststart"} if faststart else {}
    deep = "10" in pix_fmt
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec == "libx264":
            stream.options = {"crf": "10", "preset": "ultrafast"}
        if times_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if timecode is not None:
            stream.metadata["timecode"] = timecode
        for i in range(frames):
            image = frame_image(i, width, height, deep=deep)
            frame = av.VideoFrame.from_ndarray(image, format="rgb48le" if deep else "rgb24")
            if times_ms is not None:
                frame.pts, frame.time_base = times_ms[i], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Encode (once per session and arguments) a clip into a shared folder."""
    folder = tmp_path_factory.mktemp("clips")
    made: dict[str, Path] = {}

    def make(name: str = "clip.mp4", **kwargs: object) -> Path:
        key = json.dumps([name, sorted(kwargs.items())], default=str)
        if key not in made:
            made[key] = encode_clip(folder / f"{len(made)}-{name}", **kwargs)  # type: ignore[arg-type]
        return made[key]

    return make


@pytest.fixture(scope="session", autouse=True)
def isolated_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Session fixtures (clips, the solved shot) run isolated too: set up before them."""
    home = tmp_path_factory.mktemp("session-home")
    with pytest.MonkeyPatch.context() as patch:
        isolate(patch, home)
        yield home


@pytest.fixture(autouse=True)
def isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No test reads or writes the developer's own config, cache or data folders, project
    file or environment (HF_* too): each test has its own home."""
    isolate(monkeypatch, tmp_path / "home")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield work


@pytest.fixture(autouse=True)
def registries_as_they_were() -> Iterator[None]:
    """Tests add, remove and put back stages and backends; a stage put back by
    ``monkeypatch.delitem`` lands last, which would reorder every later test's help, tables
    and generated docs. Each test ends with both registries as they were, in order."""
    from vfx_ingest.backends import BACKENDS
    from vfx_ingest.stages import REGISTRY

    saved = [(registry, dict(registry)) for registry in (REGISTRY, BACKENDS)]
    yield
    for registry, before in saved:
        if list(registry.items()) != list(before.items()):
            registry.clear()
            registry.update(before)


class Cli:
    """Runs the real typer app in-process; stdout and stderr kept apart."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | Path):
        from vfx_ingest.cli import app

        return self.runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    @staticmethod
    def json_lines(stdout: str) -> list[dict]:
        return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture
def cli() -> Cli:
    return Cli()


class SolvedShot:
    """A synthetic orbit clip with known cameras, ingested and camera-solved through the
    CLI once per session: what the camera tests check the solve and its exports against.

    The camera sweeps a 27-degree arc (the orbit's speed at 8 fps, rendered at 24): the
    default move's 8 degrees in 20 frames leaves so little parallax that depth and focal
    length trade off (COLMAP on every frame misses the focal length by 17% there). The
    lens is given (28 mm on a 36 mm back, as rendered), the usual case on a VFX shoot.
    Frame 1010 is blank (a flash frame): it cannot be registered, so its camera must be
    interpolated and flagged.
    """

    FRAMES, WIDTH, HEIGHT, FOCAL_MM, SENSOR_MM = 20, 320, 180, 28.0, 36.0
    BLANK = 1010

    def __init__(self, root: Path) -> None:
        from support.synthetic import (
            GroundTruth,
            Intrinsics,
            camera_path,
            clip_scene,
            encode_mp4,
            render_frames,
        )

        self.root = root
        self.clip = root / "orbit.mp4"
        k = Intrinsics.from_focal(self.WIDTH, self.HEIGHT, self.FOCAL_MM, self.SENSOR_MM)
        scene = clip_scene(k)
        poses = camera_path(
            "orbit", self.FRAMES, 8, target=scene.target, radius=scene.orbit_radius,
            eye_height=scene.eye_height,
        )  # fmt: skip
        frames = [rgb for rgb, _ in render_frames(scene, poses, k)]
        frames[self.BLANK - 1001] = np.full_like(frames[0], 128)
        encode_mp4(frames, self.clip, fps=24)
        self.truth = GroundTruth(intrinsics=k, fps=24, c2w=poses)
        self.shot = root / "shot"
        self.result = Cli()("run", self.clip, *self.options, "--json")

    @property
    def options(self) -> list[str | Path]:
        return [
            "--shot", self.shot, "--stages", "ingest,camera",
            "--focal-mm", str(self.FOCAL_MM), "--sensor-mm", str(self.SENSOR_MM),
        ]  # fmt: skip

    @property
    def camera(self) -> Path:
        return self.shot / "camera"


@pytest.fixture(scope="session")
def solved_shot(tmp_path_factory: pytest.TempPathFactory) -> SolvedShot:
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("solved")
        isolate(patch, root / "home")
        patch.chdir(root)
        return SolvedShot(root)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1: a real S3 HTTP server, started once per session."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class S3:
    """A fresh bucket on the moto server, configured for vfx-ingest through the environment."""

    key_id = "AKIATESTKEYID0000001"
    secret = "sEcReT-access-key-for-tests-0123456789"

    def __init__(self, url: str, bucket: str) -> None:
        import boto3

        self.url, self.bucket = url, bucket
        self.client = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
        )
        self.client.create_bucket(Bucket=bucket)

    def env(self) -> dict[str, str]:
        return {
            "VFX_INGEST_S3__BUCKET": self.bucket,
            "VFX_INGEST_S3__ENDPOINT_URL": self.url,
            "VFX_INGEST_S3__REGION": "us-east-1",
            "VFX_INGEST_S3__ACCESS_KEY_ID": self.key_id,
            "VFX_INGEST_S3__SECRET_ACCESS_KEY": self.secret,
        }

    def object_keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@pytest.fixture
def s3(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> S3:
    import uuid

    store = S3(s3_server, f"test-{uuid.uuid4().hex[:12]}")
    for name, value in store.env().items():
        monkeypatch.setenv(name, value)
    return store


@pytest.fixture
def endpoint(s3: S3, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Our RunPod-compatible endpoint on 127.0.0.1 running the real handler (2 workers),
    with the client configured to use it; stopped (jobs cancelled) after the test."""
    from vfx_ingest.backends.runpod.serve import LocalEndpoint

    with LocalEndpoint(workers=2) as server:
        use_endpoint(server, monkeypatch)
        yield server


def use_endpoint(server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the client at a ``LocalEndpoint``: its URL, its token, quick polls."""
    monkeypatch.setenv("VFX_INGEST_RUNPOD__API_URL", server.url)
    monkeypatch.setenv("VFX_INGEST_RUNPOD__ENDPOINT_ID", "local")
    monkeypatch.setenv("VFX_INGEST_RUNPOD__POLL_INTERVAL_S", "0.05")
    monkeypatch.setenv("RUNPOD_API_KEY", server.api_key)


def hub_snapshot(hub: Path, repo: str, filename: str, data: bytes, commit: str) -> Path:
    """One file of a Hub model in a Hugging Face cache at ``hub``, laid out as
    huggingface_hub does (blob named by its sha256, the snapshot's symlink to it, the
    unpinned revision's ``refs/main``); returns the repo's folder."""
    import hashlib

    folder = hub / f"models--{repo.replace('/', '--')}"
    blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.write_bytes(data)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    snapshot = folder / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / filename).symlink_to(os.path.relpath(blob, snapshot))
    return folder
