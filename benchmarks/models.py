"""Model downloads and checks: figures with their baselines from the same run.

1. `vfx-ingest models sync` of one large file from an http server on 127.0.0.1 (Python's
   http.server in a subprocess), against `curl -o` of the same URL (the baseline: a plain
   download with no hashing, no verification, no atomic move).
2. The check a run does before work (files present, sizes, digests remembered by stat)
   against `models verify`'s full re-hash of the same file.

    python benchmarks/models.py [--mb 512] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vfx-models-bench-"))
    served = work / "served"
    served.mkdir()
    data = os.urandom(1 << 20) * args.mb
    (served / "w.bin").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=served,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)
        registry = work / "registry.toml"
        registry.write_text(
            f'[[model]]\nid = "bench"\nstage = "bench"\nfamily = "b"\nvariant = "b"\n'
            f'license = "MIT"\ncommercial = true\nsources = ["http://127.0.0.1:{port}/"]\n'
            f'files = [{{ path = "w.bin", sha256 = "{digest}" }}]\n'
        )
        env = {**os.environ, "VFX_INGEST_MODELS_REGISTRY": str(registry)}
        cli = [sys.executable, "-m", "vfx_ingest", "models"]
        sync_s, curl_s = [], []
        for i in range(args.repeat):
            models = work / f"models-{i}"
            run_env = {**env, "VFX_INGEST_MODELS_DIR": str(models)}
            sync_s.append(
                timed(
                    lambda e=run_env: subprocess.run(
                        [*cli, "sync", "bench", "-q"], env=e, check=True
                    )
                )
            )
            out = work / f"curl-{i}.bin"
            curl_s.append(
                timed(
                    lambda o=out: subprocess.run(
                        ["curl", "-s", "-o", str(o), f"http://127.0.0.1:{port}/w.bin"], check=True
                    )
                )
            )
            out.unlink()
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        from vfx_ingest.models.registry import load_registry
        from vfx_ingest.models.store import Store

        entry = load_registry(registry).get("bench")
        store = Store(work / "models-0")
        cheap = [timed(lambda: store.check(entry)) for _ in range(20)]
        full = [timed(lambda: store.check(entry, full=True)) for _ in range(args.repeat)]
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    sync_m, curl_m = statistics.median(sync_s), statistics.median(curl_s)
    print(
        f"sync {args.mb} MB (start-up, download, sha256, move): {sync_m:.2f} s "
        f"({args.mb / sync_m:.0f} MB/s); curl -o baseline: {curl_m:.2f} s "
        f"({args.mb / curl_m:.0f} MB/s); ratio {sync_m / curl_m:.2f}x"
    )
    cheap_m, full_m = statistics.median(cheap), statistics.median(full)
    print(
        f"pre-run check: {cheap_m * 1000:.2f} ms; full re-hash (models verify): "
        f"{full_m * 1000:.0f} ms; {full_m / cheap_m:.0f}x cheaper"
    )


if __name__ == "__main__":
    main()
