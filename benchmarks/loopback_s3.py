"""What the remote benchmarks share: an S3 server (moto) on 127.0.0.1 with one bucket, the
settings that point vfx-ingest at it, and the baseline of plain boto3 transfers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUCKET = "bench"
KEYS = {"aws_access_key_id": "AKIABENCH0000000000", "aws_secret_access_key": "bench-secret"}


@dataclass
class LoopbackS3:
    server: Any
    client: Any
    env: dict[str, str]  # VFX_INGEST_S3__* for the run under test

    def stop(self) -> None:
        self.server.stop()

    def plain_transfers(self, clip: Path, plate: list[Path], scratch: Path) -> None:
        """One upload of the clip and every frame, one download of every frame: what a
        remote run moves, with nothing of ours in between."""
        for i, path in enumerate([clip, *plate]):
            self.client.upload_file(str(path), BUCKET, f"baseline/{i}")
        for i in range(1, len(plate) + 1):
            self.client.download_file(BUCKET, f"baseline/{i}", str(scratch / "copy.bin"))


def start() -> LoopbackS3:
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **KEYS)
    client.create_bucket(Bucket=BUCKET)
    env = {
        "VFX_INGEST_S3__BUCKET": BUCKET,
        "VFX_INGEST_S3__ENDPOINT_URL": url,
        "VFX_INGEST_S3__REGION": "us-east-1",
        "VFX_INGEST_S3__ACCESS_KEY_ID": KEYS["aws_access_key_id"],
        "VFX_INGEST_S3__SECRET_ACCESS_KEY": KEYS["aws_secret_access_key"],
    }
    return LoopbackS3(server, client, env)
