"""A double of the Modal calls the client makes (``backends.modal.seam.ModalCalls``).

Modal's servers cannot be reached from CI, so this stands in for them at the one seam the
client uses, following Modal's documented behaviour:

- a volume is a folder: batch uploads replace files, ``listdir`` gives paths relative to
  the volume's root, reading a missing file raises FileNotFoundError;
- ``deploy`` registers the app by name; looking up a class of an app never deployed fails
  (as Modal's NotFoundError does, which the live seam turns into our BadInput);
- a container sees the volumes through its own view (modal_volumes.py): what it writes is
  visible to the client and other containers only after ``commit()``, what the client
  uploads reaches a running container only after ``reload()``, which fails while files
  are open; ``root/<volume>`` is the committed state the client's calls see;
- ``spawn`` runs the input in a container: a warm one of the same class and models when
  one is idle (its view as it was, no reload), else a new one (the volumes mounted as
  committed now). Each input is a separate Python process that, like Modal's container
  runtime, gets only the image's environment and the app's named secrets (never the
  client's environment), has ``modal.is_local()`` false, imports
  ``vfx_ingest.backends.modal.app`` (which rebuilds the app), looks the class up by name
  and calls its real method (``@modal.enter()`` first); the spec's mount paths point at
  the container's views;
- ``FunctionCall.cancel`` sends the container SIGUSR1, which Modal's runtime turns into
  ``InputCancellation`` in the running input;
- the progress queue carries what the container puts into it, ``get_many`` semantics;
- ``billing_report`` returns the rows a test gives it.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from modal_volumes import MountedVolume
from vfx_ingest.backends.modal.app import SPEC_ENV, BuiltApp
from vfx_ingest.backends.modal.seam import Entry
from vfx_ingest.backends.modal.spec import AppSpec
from vfx_ingest.errors import BadInput, StageFailed

CONTAINER = Path(__file__).with_name("modal_container.py")
SRC = Path(__file__).resolve().parents[1] / "src"
CALL_LIMIT_S = 120  # no container outlives a test


class FakeVolume:
    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.name = name

    def _path(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def listdir(self, path: str, recursive: bool = False) -> list[Entry]:
        target = self._path(path)
        if target.is_file():
            found = [target]
        elif target.is_dir():
            found = sorted(target.rglob("*") if recursive else target.iterdir())
        else:
            return []
        return [
            Entry(p.relative_to(self.root).as_posix(), p.stat().st_size, p.is_dir()) for p in found
        ]

    def read(self, path: str, into: Any) -> None:
        target = self._path(path)
        if not target.is_file():
            raise FileNotFoundError(path)
        into.write(target.read_bytes())

    def upload(self, files: list[tuple[Path | bytes, str]]) -> None:
        for source, dest in files:
            target = self._path(dest)
            target.parent.mkdir(parents=True, exist_ok=True)
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
            target.write_bytes(data)

    def remove(self, path: str) -> None:
        target = self._path(path)
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


class FakeQueue:
    def __init__(self) -> None:
        self.items: queue.Queue[Any] = queue.Queue()

    @property
    def remote(self) -> FakeQueue:
        return self

    def put_many(self, values: list[Any]) -> None:
        for value in values:
            self.items.put(value)

    def get_many(self, n: int, timeout: float) -> list[Any]:
        try:
            got = [self.items.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(got) < n:
            try:
                got.append(self.items.get_nowait())
            except queue.Empty:
                break
        return got


@dataclass
class ClassRef:
    """A class of an app, as a lookup gives it."""

    spec: AppSpec
    name: str


@dataclass
class Spawned:
    cls: str
    gpu: str | None
    models: str
    job: dict[str, Any]


@dataclass
class FakeContainer:
    """A container of one class and model set: its views of the two volumes, its home,
    and the spec as the image holds it (mount paths at the views)."""

    key: tuple[str, str]
    folder: Path
    spec: AppSpec
    shots: MountedVolume
    models: MountedVolume
    call: FakeCall | None = None

    @classmethod
    def start(cls, key: tuple[str, str], spec: AppSpec, root: Path, folder: Path):
        shots = MountedVolume(root / spec.shots_volume, folder / "shots")
        models = MountedVolume(root / spec.models_volume, folder / "models")
        shots.mount()
        models.mount()
        (folder / "home").mkdir()
        seen = spec.model_copy(
            update={"shots_mount": str(shots.view), "models_mount": str(models.view)}
        )
        return cls(key, folder, seen, shots, models)

    @property
    def idle(self) -> bool:
        return self.call is None or self.call.process.poll() is not None

    def job_here(self, job_json: str, client_spec: AppSpec) -> str:
        """The job with its paths in the volumes (the shot, the clip) where this container
        mounts them: the mount points are the spec's, each container's view its own."""
        mounts = {
            client_spec.shots_mount: str(self.shots.view),
            client_spec.models_mount: str(self.models.view),
        }

        def here(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: here(v) for k, v in value.items()}
            if isinstance(value, list):
                return [here(v) for v in value]
            if isinstance(value, str):
                for mount, view in mounts.items():
                    if value == mount or value.startswith(f"{mount}/"):
                        return view + value[len(mount) :]
            return value

        return json.dumps(here(json.loads(job_json)))


class FakeCall:
    """A running input: the container process, its events and its answer."""

    def __init__(
        self, ref: ClassRef, container: FakeContainer, args: tuple, env: dict[str, str], n: int
    ):
        job_json, events, version = args
        self.object_id = f"fc-{n}"
        self.container = container
        self.folder = container.folder / f"call-{self.object_id}"
        self.folder.mkdir(parents=True)
        (self.folder / "job.json").write_text(container.job_here(job_json, ref.spec))
        mounts = {
            container.spec.shots_volume: [str(container.shots.committed), str(container.shots.view)]
        }
        self.answer_path = self.folder / "answer.json"
        read, write = os.pipe()
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(CONTAINER),
                ref.name,
                container.key[1],
                version,
                str(self.folder),
                str(write),
                json.dumps(mounts),
            ],
            env={
                **env,
                "HOME": str(container.folder / "home"),
                **container.spec.worker_env,
                SPEC_ENV: container.spec.model_dump_json(),
            },
            pass_fds=(write,),
            stderr=(self.folder / "stderr.txt").open("wb"),
        )
        os.close(write)
        self.events = events
        self.reader = threading.Thread(target=self._relay, args=(read,), daemon=True)
        self.reader.start()
        self.cancelled = False
        self.watchdog = threading.Timer(CALL_LIMIT_S, self.stop)
        self.watchdog.daemon = True
        self.watchdog.start()

    def _relay(self, fd: int) -> None:
        with os.fdopen(fd, "r") as lines:
            for line in lines:
                self.events.put_many(json.loads(line))

    def result(self, timeout: float) -> Any | None:
        try:
            self.process.wait(timeout=max(timeout, 0.01))
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(5)
        if self.answer_path.is_file():
            return json.loads(self.answer_path.read_text())
        stderr = (self.folder / "stderr.txt").read_text()[-2000:]
        raise StageFailed(
            f"the Modal worker failed (container exit {self.process.returncode})\n{stderr}"
        )

    def cancel(self) -> None:
        self.cancelled = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(5)

    def stop(self) -> None:
        self.watchdog.cancel()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class FakeModal:
    """The seam's double. ``root`` holds one folder per volume."""

    root: Path
    token: bool = True
    deployed: dict[str, AppSpec] = field(default_factory=dict)
    spawned: list[Spawned] = field(default_factory=list)
    calls: list[FakeCall] = field(default_factory=list)
    billing_rows: list[dict[str, Any]] = field(default_factory=list)
    billing_queries: list[tuple[datetime, datetime, list[str]]] = field(default_factory=list)
    ephemeral_runs: list[str] = field(default_factory=list)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # named secrets
    containers: list[FakeContainer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check_token(self) -> None:
        if not self.token:
            raise BadInput("no Modal token is configured on this machine", fix="modal token new")

    def volume(self, name: str, environment: str | None, *, create: bool, missing_fix: str):
        folder = self.root / name
        if not folder.is_dir():
            if not create:
                raise BadInput(f"the Modal volume {name} does not exist", fix=missing_fix)
            folder.mkdir(parents=True)
        return FakeVolume(folder, name)

    def deployed_class(self, app_name: str, cls_name: str, environment: str | None) -> ClassRef:
        spec = self.deployed.get(app_name)
        if spec is None or cls_name not in {c.name for c in spec.classes}:
            raise BadInput(
                f"the Modal app {app_name} is not deployed", fix="vfx-ingest deploy modal"
            )
        return ClassRef(spec, cls_name)

    @contextlib.contextmanager
    def ephemeral(self, built: BuiltApp, environment: str | None) -> Iterator[Callable[[str], Any]]:
        self.ephemeral_runs.append(built.spec.name)
        try:
            yield lambda name: ClassRef(built.spec, name)
        finally:
            self.ephemeral_runs.append("stopped")

    @contextlib.contextmanager
    def event_queue(self, environment: str | None) -> Iterator[FakeQueue]:
        yield FakeQueue()

    def spawn(self, cls: ClassRef, *, gpu: str | None, models: str, args: tuple) -> FakeCall:
        env = self.container_env(cls.spec)
        with self.lock:  # chunks are spawned from several threads
            self.spawned.append(Spawned(cls.name, gpu, models, json.loads(args[0])))
            key = (cls.name, models)
            container = next((c for c in self.containers if c.key == key and c.idle), None)
            if container is None:
                folder = self.root / ".containers" / f"c-{len(self.containers)}"
                container = FakeContainer.start(key, cls.spec, self.root, folder)
                self.containers.append(container)
            call = FakeCall(cls, container, args, env, len(self.calls))
            container.call = call
            self.calls.append(call)
        return call

    def container_env(self, spec: AppSpec) -> dict[str, str]:
        """What a container's process starts with: a system PATH, the path to this
        checkout's code (the image's package), the app's named secrets; the image's own
        variables are added per container. Nothing of the client's environment."""
        env = {"PATH": os.defpath, "LANG": "C.UTF-8"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), str(SRC)]))
        if os.environ.get("VFX_TEST_STAGES"):  # the test stages are part of the image
            env["VFX_TEST_STAGES"] = "1"
        for name in spec.secrets:
            if name not in self.secrets:
                raise BadInput(f"the Modal secret {name} does not exist")
            env.update(self.secrets[name])
        return env

    def deploy(self, built: BuiltApp, environment: str | None, *, logs: bool) -> str:
        self.deployed[built.spec.name] = built.spec
        return f"ap-{built.spec.name}"

    def billing_report(self, start: datetime, end: datetime, tag_names: list[str]) -> list[dict]:
        self.billing_queries.append((start, end, tag_names))
        return self.billing_rows

    def stop_all(self) -> None:
        for call in self.calls:
            call.stop()
