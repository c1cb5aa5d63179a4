"""The container half of the Modal double (see modal_double.py): one input, run the way
Modal's container runtime runs it.

argv: class name, the instance's ``models`` parameter, the client's version, the call's
folder (``job.json`` in, ``answer.json`` out), the fd events are written to (JSON lines).
The environment holds the app's spec and the worker environment, as the image does.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
from pathlib import Path

from modal.exception import InputCancellation


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
    cls_name, models, version, folder, fd = sys.argv[1:]
    signal.signal(signal.SIGUSR1, _cancelled)
    # Each Modal container has its own kernel: a file lock taken in one is not seen by
    # another on the same volume. These containers share this machine's kernel, so their
    # locks are made container-local the same way (one input per container here).
    fcntl.flock = lambda fd, operation: None
    if os.environ.get("VFX_TEST_STAGES"):
        sys.path.insert(0, str(Path(__file__).parent))
        from modal_stages import register

        register()
    # Modal imports the app's module and finds the class by name.
    from vfx_ingest.backends.modal import app

    cls = getattr(app, cls_name)
    job_json = (Path(folder) / "job.json").read_text()
    answer = cls(models=models).run_job.local(job_json, PipeSink(int(fd)), version)
    (Path(folder) / "answer.json").write_text(json.dumps(answer))


if __name__ == "__main__":
    main()
