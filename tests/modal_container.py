"""The container half of the Modal double (see modal_double.py): one input, run the way
Modal's container runtime runs it.

argv: class name, the instance's ``models`` parameter, the client's version, the call's
folder (``job.json`` in, ``answer.json`` out), the fd events are written to (JSON lines),
and the volumes this container mounts (name -> committed folder, view folder; see
modal_volumes.py), which ``modal.Volume.reload``/``commit`` act on here. The environment
is the image's (the app's spec, the worker environment) and the named secrets only.
As in a Modal container, ``modal.is_local()`` is false: the worker reloads and commits
the shots volume, and a cancelled input whose stage does not stop ends the process.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
from pathlib import Path

import modal
from modal._runtime.task_lifecycle_manager import _TaskLifecycleManager
from modal.exception import InputCancellation

from modal_volumes import MountedVolume


def _cancelled(signum: int, frame: object) -> None:
    # What Modal's runtime does when the client cancels the input.
    raise InputCancellation("Input was cancelled by user")


class PipeSink:
    """The container side of the progress queue."""

    def __init__(self, fd: int) -> None:
        self.out = os.fdopen(fd, "w", buffering=1)

    def put_many(self, values: list) -> None:
        self.out.write(json.dumps(values) + "\n")


def main() -> None:
    cls_name, models, version, folder, fd, mounts = sys.argv[1:]
    signal.signal(signal.SIGUSR1, _cancelled)
    volumes = {name: MountedVolume(Path(c), Path(v)) for name, (c, v) in json.loads(mounts).items()}
    modal.Volume.reload = lambda self: volumes[self.name].reload()  # type: ignore[method-assign]
    modal.Volume.commit = lambda self: volumes[self.name].commit()  # type: ignore[method-assign]
    _TaskLifecycleManager._singleton = object()  # what makes modal.is_local() false
    # Each Modal container has its own kernel: a file lock taken in one is not seen by
    # another on the same volume. These containers share this machine's kernel, so their
    # locks are made container-local the same way (one input per container here).
    fcntl.flock = lambda fd, operation: None
    if os.environ.get("VFX_TEST_STAGES"):
        from modal_stages import register

        register()
    # Modal imports the app's module and finds the class by name.
    from vfx_ingest.backends.modal import app

    cls = getattr(app, cls_name)
    job_json = (Path(folder) / "job.json").read_text()
    assert not modal.is_local()
    answer = cls(models=models).run_job.local(job_json, PipeSink(int(fd)), version)
    (Path(folder) / "answer.json").write_text(json.dumps(answer))


if __name__ == "__main__":
    main()
