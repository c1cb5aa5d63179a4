"""The Modal app, built offline from the stage registry, and its classes run with .local().

No Modal server is involved: the app's objects are built and inspected here (Modal's own
``FunctionInfo`` for GPUs, timeouts, volumes and secrets; the image's layer definitions
for what the image builder would run), and the worker class's methods run in this process
with Modal's ``.local()``, through ``worker.execute``, on the bundled example clip.
"""

from __future__ import annotations

import io
import json
import shlex
import sys
from pathlib import Path

import pytest

from vfx_ingest import __version__
from vfx_ingest.backends.modal import spec as modal_spec
from vfx_ingest.backends.modal.app import SPEC_ENV, build_app
from vfx_ingest.backends.modal.gpus import GPU_TYPES, class_name, gpu_for, parse_gpu
from vfx_ingest.backends.modal.spec import REGISTRY_PATH, WHEELS_DIR, app_spec
from vfx_ingest.config import load_settings
from vfx_ingest.digest import file_digest
from vfx_ingest.errors import BadInput
from vfx_ingest.job import Job, StageRequest
from vfx_ingest.manifest import SourceFile
from vfx_ingest.stages import REGISTRY
from vfx_ingest.stages.base import DeviceNeeds
from vfx_ingest.wheel import build_wheel

from conftest import EXAMPLES
from modal_stages import TINT

# The folders standing in for the mounted volumes are real folders here.
pytestmark = pytest.mark.filterwarnings("ignore:.*executing locally:UserWarning")

BUILDER_VERSION = "2024.10"  # a Modal image builder version; only the layer commands matter


def dockerfile(image) -> list[str]:
    """The Dockerfile commands of every layer of ``image``, base first, as Modal's image
    builder would get them; a layer copying local files reads ``COPY <local> <remote>``.
    Reads Modal's (private) layer definitions: the image object has no public
    introspection."""
    from modal._utils.async_utils import synchronizer

    layer = synchronizer._translate_in(image)
    commands: list[str] = []
    while layer is not None:
        load = layer._load
        cells = dict(
            zip(load.__code__.co_freevars, (c.cell_contents for c in load.__closure__), strict=True)
        )
        own = [
            c for c in cells["dockerfile_function"](BUILDER_VERSION).commands if c != "FROM base"
        ]
        if cells["context_mount_function"] is not None:
            mount = cells["context_mount_function"](BUILDER_VERSION)
            copies = [f"COPY {e.local_file} {e.remote_path}" for e in mount._entries]
            own = [c for c in own if c != "COPY . /"] + copies
        commands = own + commands
        layer = cells["base_images"].get("base")
    return commands


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def with_tint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "tint", TINT)


def test_app_is_built_from_the_stage_registry(with_tint, wheel, monkeypatch):
    monkeypatch.setenv("VFX_INGEST_MODAL__SECRETS", '["hf-read"]')
    monkeypatch.setenv("VFX_INGEST_MODAL__TIMEOUT_S", "900")
    spec = app_spec(load_settings(), wheel=wheel.name)
    built = build_app(spec, wheel)

    # One class per GPU type: ingest and camera need none, depth, roto and matte fit a T4
    # (16 GB), tint 20 GB (L4 24).
    assert {c.name: (c.gpu, c.stages) for c in spec.classes} == {
        "Cpu": (None, ["ingest", "camera"]),
        "GpuT4": ("T4", ["depth", "roto", "matte"]),
        "GpuL4": ("L4", ["tint"]),
    }
    assert set(built.classes) == {"Cpu", "GpuT4", "GpuL4"}
    for name, gpus in (("Cpu", []), ("GpuL4", [("L4", 1)])):
        info = built.classes[name]._get_class_service_function().info()
        assert info.gpus == gpus
        assert info.timeout == 900
        assert {path: (m.name, m.read_only) for path, m in info.volumes.items()} == {
            "/vfx/models": ("vfx-models", False),
            "/vfx/shots": ("vfx-shots", False),
        }
        assert info.secrets == ["modal.Secret.from_name('hf-read')"]
        assert info.method_names == ["run_job"]

    commands = dockerfile(built.classes["GpuL4"]._get_class_service_function()._spec_.image)
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert commands[0].startswith(f"FROM python:{python}")
    torch = next(c for c in commands if "torch" in c)
    # PyPI's torch (its Linux wheels are the CUDA builds), not this machine's +cpu build.
    assert (
        torch == f"RUN python -m pip install torch=={__import__('torch').__version__.split('+')[0]}"
    )
    copy = f"COPY {wheel} {WHEELS_DIR}/{wheel.name}"
    requirement = f"{WHEELS_DIR}/{wheel.name}[camera,matte,ml,roto]"
    install = f"RUN python -m pip install {shlex.quote(requirement)}"
    assert commands.index(copy) < commands.index(install)
    assert commands.index(torch) < commands.index(copy)  # torch's big layer stays cached
    env = " ".join(c for c in commands if c.startswith("ENV"))
    assert "VFX_INGEST_MODELS_DIR=/vfx/models/vfx-ingest" in env
    assert "VFX_INGEST_HF_CACHE=/vfx/models/hf" in env and "HF_HUB_OFFLINE=1" in env
    assert SPEC_ENV in env  # the container rebuilds this same app from it


def test_a_cpu_only_registry_gets_no_torch_and_only_its_extras(wheel, monkeypatch):
    for gpu_stage in ("depth", "roto", "matte"):
        monkeypatch.delitem(REGISTRY, gpu_stage)
    spec = app_spec(load_settings(), wheel=wheel.name)
    # ingest needs no extra; the camera stage needs pycolmap and usd-core.
    assert spec.image.torch is None and spec.image.extras == ["camera"]
    assert spec.image.wheel_requirement == f"{WHEELS_DIR}/{wheel.name}[camera]"
    assert not any(
        "torch" in c for c in dockerfile(build_app(spec, wheel).app._get_default_image())
    )


def test_gpu_setting_moves_gpu_stages_and_an_ephemeral_app_is_tagged_with_its_run(
    with_tint, wheel, monkeypatch
):
    monkeypatch.setenv("VFX_INGEST_MODAL__GPU", "h100:2")
    spec = app_spec(load_settings(), wheel=wheel.name, run_id="abc123")
    assert [(c.name, c.gpu) for c in spec.classes] == [("Cpu", None), ("GpuH100x2", "H100:2")]
    assert spec.tags == {"vfx-ingest-app": "vfx-ingest", "vfx-ingest-run": "abc123"}
    info = build_app(spec, wheel).classes["GpuH100x2"]._get_class_service_function().info()
    assert info.gpus == [("H100", 2)]


def test_an_in_house_model_registry_goes_into_the_image(wheel, tmp_path, monkeypatch):
    registry = tmp_path / "studio.toml"
    registry.write_text("")
    monkeypatch.setenv("VFX_INGEST_MODELS_REGISTRY", str(registry))
    spec = app_spec(load_settings(), wheel=wheel.name)
    built = build_app(spec, wheel, registry)
    commands = dockerfile(built.classes["Cpu"]._get_class_service_function()._spec_.image)
    assert f"COPY {registry} {REGISTRY_PATH}" in commands
    assert f"ENV VFX_INGEST_MODELS_REGISTRY={REGISTRY_PATH}" in commands


@pytest.mark.parametrize(
    ("text", "spelled", "count"),
    [("L40S", "L40S", 1), ("h100:2", "H100", 2), ("A10G", "A10G", 1), ("H100!", "H100!", 1)],
)
def test_documented_gpu_names_are_accepted(text, spelled, count):
    request = parse_gpu(text)
    assert (request.spelled, request.count) == (spelled, count)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("A200", "is not a Modal GPU type"),
        ("H100:9", "asks for 9 GPUs"),
        ("A10:5", "5 GPUs"),
        ("L4:x", "GPUs"),
        ("", "is not a Modal GPU type"),
    ],
)
def test_gpu_names_modal_would_not_schedule_are_refused_here(text, fragment):
    with pytest.raises(BadInput, match=fragment):
        parse_gpu(text)


def test_each_stage_gets_the_cheapest_gpu_that_holds_it():
    assert gpu_for(DeviceNeeds()) is None
    assert str(gpu_for(DeviceNeeds(accelerator="optional", min_vram_gb=8))) == "T4"
    assert str(gpu_for(DeviceNeeds(accelerator="required", min_vram_gb=60))) == "A100-80GB"
    assert str(gpu_for(DeviceNeeds(accelerator="required", min_vram_gb=60), "L4:4")) == "L4:4"
    with pytest.raises(BadInput, match="has 24 GB"):
        gpu_for(DeviceNeeds(accelerator="required", min_vram_gb=40), "L4")
    names = [class_name(parse_gpu(f"{g.name}:2")) for g in GPU_TYPES]
    assert all(n.isidentifier() for n in names) and len(set(names)) == len(names)


def test_every_gpu_stage_declares_the_extra_that_brings_torch():
    """The image installs the extras stages declare; a GPU stage without torch would fail
    on the worker only."""
    for spec in REGISTRY.values():
        if spec.device.accelerator != "none":
            assert "ml" in spec.extras, spec.name


class Sink:
    """Stands in for the modal.Queue a worker puts its events into."""

    def __init__(self) -> None:
        self.events: list[dict] = []

    def put_many(self, values: list) -> None:
        self.events.extend(values)


def test_the_worker_class_runs_ingest_with_local(wheel, tmp_path, monkeypatch):
    monkeypatch.setattr(modal_spec, "SHOTS_MOUNT", str(tmp_path / "shots"))
    monkeypatch.setattr(modal_spec, "MODELS_MOUNT", str(tmp_path / "models"))
    spec = app_spec(load_settings(), wheel=wheel.name)
    built = build_app(spec, wheel)
    shot = tmp_path / "shots" / "courtyard-1"
    clip = shot / ".source" / "courtyard.mp4"
    clip.parent.mkdir(parents=True)
    clip.write_bytes((EXAMPLES / "courtyard.mp4").read_bytes())
    from vfx_ingest.io.probe import probe

    job = Job(
        shot=str(shot),
        source=SourceFile(path=str(clip), digest=file_digest(clip), probe=probe(clip)),
        stages=[StageRequest(name="ingest", params={"max_size": 160, "end": "1024"})],
        device="cpu",
        backend="modal",
    )
    sink = Sink()
    worker = built.classes["Cpu"](models="")
    answer = worker.run_job.local(job.model_dump_json(), sink, __version__)

    (record,) = answer["result"]["records"]
    assert record["status"] == "done" and record["frames"] == "1001-1024"
    assert sorted(p.name for p in (shot / "plate").iterdir())[0] == "plate.1001.png"
    assert len(list((shot / "plate").iterdir())) == 24 == len(record["outputs"])
    assert json.loads((shot / "shot.json").read_text())["stages"]["ingest"]["status"] == "done"
    kinds = [(e["type"], e.get("status")) for e in sink.events]
    assert kinds[0] == ("stage", "started") and kinds[-1] == ("stage", "done")
    assert ("progress", None) in kinds
    assert answer["version"] == __version__ and answer["seconds"] > 0

    # A job for a shot outside the shots volume, or from another client version, is refused.
    outside = job.model_copy(update={"shot": str(tmp_path / "elsewhere")})
    answer = worker.run_job.local(outside.model_dump_json(), sink, __version__)
    assert "not in the shots volume" in answer["error"]["line"]
    answer = worker.run_job.local(job.model_dump_json(), None, "0.0.1")
    assert (
        answer["error"]["exit_code"] == 2 and "vfx-ingest deploy modal" in answer["error"]["line"]
    )


def test_a_model_missing_from_the_volume_is_one_line_from_the_worker(
    with_tint, wheel, tmp_path, monkeypatch
):
    monkeypatch.setattr(modal_spec, "MODELS_MOUNT", str(tmp_path / "models"))
    monkeypatch.setenv("VFX_INGEST_HF_CACHE", str(tmp_path / "models" / "hf"))
    built = build_app(app_spec(load_settings(), wheel=wheel.name), wheel)
    worker = built.classes["GpuL4"](models="vda-base")
    answer = worker.run_job.local("{}", io.StringIO(), __version__)
    assert answer["error"]["exit_code"] == 2
    assert "vda-base" in answer["error"]["line"] and "not downloaded" in answer["error"]["line"]


@pytest.mark.parametrize("obeys", [True, False])
def test_a_cancelled_input_stops_its_stage_or_ends_the_container(obeys):
    """Modal cancels an input by raising in the thread running it (a signal handler); the
    stage gets the cancel at its next check, and one that does not stop ends the process."""
    import os
    import signal
    import threading
    import time

    from vfx_ingest.backends.modal.container import run_cancellable

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGUSR1, interrupt)
    stopped, released, stuck = threading.Event(), threading.Event(), []

    def stage(cancel: threading.Event) -> None:
        while not (obeys and cancel.is_set()) and not released.is_set():
            time.sleep(0.02)
        stopped.set()

    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_cancellable(stage, grace_s=0.5, stuck=lambda: stuck.append(True))
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert stopped.is_set() == obeys and stuck == ([] if obeys else [True])
    released.set()  # the stage that ignored the cancel (its process would be gone)
