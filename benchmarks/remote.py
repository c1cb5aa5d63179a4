"""The remote path's own cost: `run --backend runpod-serverless` on loopback.

Runs the bundled clip (96 frames, 640x360) through ingest with the RunPod serverless
backend on loopback (our RunPod-compatible endpoint running the real handler, moto's S3
server for storage, both on 127.0.0.1), --force each time. The baseline, in the same run
and on the same S3 server, is the least any remote run must do: the same ingest run
locally, plus uploading the clip and every plate file once and downloading every plate
file once with plain boto3 calls. The ratio is what our machinery adds (the job round
trip, content addressing, the output mailbox, sha256 checks, staging and records). Also
printed: a fully cached remote rerun (no job may start) and the bytes a forced rerun
uploads (the clip is stored already: 0). Goal (issue 6): <= 1.25x the baseline.

    python benchmarks/remote.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

GOAL_RATIO = 1.25
CLIP = Path(__file__).resolve().parents[1] / "examples" / "courtyard.mp4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import loopback_s3

    s3 = loopback_s3.start()
    os.environ.update(
        {
            **s3.env,
            "VFX_INGEST_RUNPOD__ENDPOINT_ID": "local",
            "VFX_INGEST_RUNPOD__POLL_INTERVAL_S": "0.1",
        }
    )
    from vfx_ingest import pipeline
    from vfx_ingest.backends.runpod.serve import LocalEndpoint
    from vfx_ingest.config import load_settings

    with LocalEndpoint() as endpoint, tempfile.TemporaryDirectory() as tmp:
        os.environ["VFX_INGEST_RUNPOD__API_URL"] = endpoint.url
        os.environ["RUNPOD_API_KEY"] = endpoint.api_key  # worker serve wants its token

        def timed(backend: str, *, force: bool = True) -> tuple[float, dict]:
            request = pipeline.RunRequest(
                clip=CLIP, shot=Path(tmp) / backend, backend=backend, force=force
            )
            started = time.perf_counter()
            result = pipeline.run(request, load_settings(), lambda e: None)
            assert result.status == "ok", result.error
            return time.perf_counter() - started, result.records[0].stats

        def baseline() -> float:
            """A local ingest plus one plain upload and download of every file moved."""
            took, _ = timed("local")
            started = time.perf_counter()
            plate = sorted((Path(tmp) / "local" / "plate").iterdir())
            s3.plain_transfers(CLIP, plate, Path(tmp))
            return took + time.perf_counter() - started

        baseline()  # warm caches (decoder, imports) for both
        timed("runpod-serverless")
        local = statistics.median(baseline() for _ in range(args.runs))
        remote_runs = [timed("runpod-serverless") for _ in range(args.runs)]
        remote = statistics.median(t for t, _ in remote_runs)
        sent = remote_runs[-1][1]["remote"]["uploaded_bytes"]
        received = remote_runs[-1][1]["remote"]["downloaded_bytes"]
        jobs = endpoint.health()["jobs"]["completed"]
        cached, _ = timed("runpod-serverless", force=False)
        started_jobs = endpoint.health()["jobs"]["completed"] - jobs
    s3.stop()
    ratio = remote / local
    print(f"ingest of {CLIP.name} (96 frames 640x360), median of {args.runs}, --force")
    print(f"  baseline: local ingest + plain boto3 up/down  {local:.2f} s")
    print(f"  runpod-serverless (loopback)                  {remote:.2f} s  = {ratio:.2f}x")
    print(f"  forced rerun: {sent} bytes uploaded, {received / 1e6:.1f} MB downloaded")
    print(f"  cached rerun: {cached:.2f} s, {started_jobs} remote jobs started")
    verdict = "meets" if ratio <= GOAL_RATIO else "MISSES"
    print(f"remote on loopback {verdict} the {GOAL_RATIO}x goal")


if __name__ == "__main__":
    main()
