"""`run --backend runpod-pod` on loopback, and how fast a pod ends when its client dies.

The RunPod control plane is the test double (``tests/runpod_pod_double.py``: pods are
real subprocesses running `vfx-ingest worker pod`, its proxy on 127.0.0.1, no simulated
provisioning delay); storage is moto's S3 server on 127.0.0.1. Printed, from one run:

1. the bundled clip (96 frames, 640x360) through ingest on a pod, --force, against the
   baseline of the same run: the same ingest locally plus one plain boto3 upload of the
   clip and every plate file and one download of every plate file. The pod's figure is
   shown whole and without its start-up (creation to the worker answering: a Python
   process starting here, an image pull on RunPod). Goal (issue 13): <= 1.3x.
2. seconds from SIGKILL of a client mid-stage to the pod's termination by its own
   watchdog, with runpod.pod_heartbeat_timeout_s = --heartbeat. Goal: <= heartbeat + 30 s.

    python benchmarks/pod.py [--runs 3] [--heartbeat 10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
CLIP = ROOT / "examples" / "courtyard.mp4"
GOAL_RATIO = 1.3
KEY = "bench-user-key"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--heartbeat", type=float, default=10.0)
    args = parser.parse_args()

    import loopback_s3
    from runpod_pod_double import RunpodPodDouble

    s3 = loopback_s3.start()
    with (
        tempfile.TemporaryDirectory() as tmp,
        RunpodPodDouble(KEY, Path(tmp), provision_s=0.0, start_s=0.0) as double,
    ):
        os.environ.update(
            {
                "XDG_DATA_HOME": str(Path(tmp) / "data"),
                **s3.env,
                "RUNPOD_API_KEY": KEY,
                "VFX_INGEST_RUNPOD__REST_URL": double.url,
                "VFX_INGEST_RUNPOD__POD_URL": double.pod_url,
                "VFX_INGEST_RUNPOD__IMAGE": "bench/worker:1",
                "VFX_INGEST_RUNPOD__POLL_INTERVAL_S": "0.1",
                "VFX_INGEST_RUNPOD__POD_HEARTBEAT_TIMEOUT_S": f"{args.heartbeat:g}",
                "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path]),
            }
        )
        from vfx_ingest import pipeline
        from vfx_ingest.config import load_settings

        def timed(backend: str) -> tuple[float, dict]:
            request = pipeline.RunRequest(
                clip=CLIP, shot=Path(tmp) / backend, backend=backend, force=True
            )
            started = time.perf_counter()
            result = pipeline.run(request, load_settings(), lambda e: None)
            assert result.status == "ok", result.error
            shot = json.loads((Path(tmp) / backend / "shot.json").read_text())
            return time.perf_counter() - started, shot["stages"]["ingest"]["stats"]

        def baseline() -> float:
            took, _ = timed("local")
            started = time.perf_counter()
            plate = sorted((Path(tmp) / "local" / "plate").iterdir())
            s3.plain_transfers(CLIP, plate, Path(tmp))
            return took + time.perf_counter() - started

        baseline()  # warm caches (decoder, imports)
        local = statistics.median(baseline() for _ in range(args.runs))
        runs = [timed("runpod-pod") for _ in range(args.runs)]
        whole = statistics.median(t for t, _ in runs)
        startup = statistics.median(s["cold_start_s"] for _, s in runs)
        working = statistics.median(t - s["cold_start_s"] for t, s in runs)
        live = len(double.live_pods())

        # A client killed mid-stage: the pod's watchdog must end it.
        shot = Path(tmp) / "killed"
        command = [sys.executable, "-m", "vfx_ingest", "run", str(CLIP), "--shot", str(shot)]
        command += ["--backend", "runpod-pod", "--plate-format", "exr", "--force", "-q"]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not any(_busy(p) for p in double.live_pods()):
            assert time.monotonic() < deadline and proc.poll() is None, "no stage started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = time.monotonic()
        (pod,) = double.live_pods()
        while pod.status != "TERMINATED":
            assert time.monotonic() < killed + args.heartbeat + 120, "the pod outlived us"
            time.sleep(0.05)
        ended = time.monotonic() - killed
    s3.stop()
    print(f"ingest of {CLIP.name} (96 frames 640x360), median of {args.runs}, --force")
    print(f"  baseline: local ingest + plain boto3 up/down   {local:.2f} s")
    print(f"  runpod-pod (loopback), whole                   {whole:.2f} s  = {whole / local:.2f}x")
    print(f"  runpod-pod without its start-up ({startup:.2f} s)     {working:.2f} s  = "
          f"{working / local:.2f}x")  # fmt: skip
    print(f"  pods left running after the runs: {live}")
    verdict = "meets" if working / local <= GOAL_RATIO else "MISSES"
    print(f"pod on loopback (start-up aside) {verdict} the {GOAL_RATIO}x goal")
    goal = args.heartbeat + 30
    print(f"client SIGKILL -> pod terminated by its watchdog: {ended:.1f} s "
          f"(heartbeat timeout {args.heartbeat:g} s; goal <= {goal:g} s: "
          f"{'meets' if ended <= goal else 'MISSES'})")  # fmt: skip


def _busy(pod) -> bool:
    status = pod.folder / "tmp" / "vfx-ingest-pod-status.json"
    try:
        return bool(json.loads(status.read_text()).get("busy"))
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    main()
