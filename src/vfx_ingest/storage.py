"""Object storage for remote runs: any S3-compatible endpoint, through boto3.

AWS S3, Cloudflare R2, MinIO and RunPod's S3-compatible network-volume API are configured
the same way (``[s3]``: bucket, endpoint_url, region, prefix, keys; the keys may also come
from boto3's usual chain: ``AWS_ACCESS_KEY_ID``, ``~/.aws``).

Files are stored content-addressed under ``<prefix>cas/<sha256[:2]>/<sha256>``: an object
that exists already is never sent again, so re-running the same clip uploads 0 bytes.
Large files go up in parts (``multipart_chunk_mb``, below RunPod's 500 MB part limit),
requests are retried with backoff (botocore's standard mode), and every transfer reports
its bytes for a progress bar. Workers never get these credentials: the client hands them
presigned URLs with a short expiry (:meth:`Store.presign_get`, :meth:`Store.presign_put`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from . import atomic, redact
from .config import S3Settings
from .digest import FileDigest, sha256_file
from .errors import BadInput, StageFailed
from .job import object_key

MiB = 1024 * 1024
ByteFn = Callable[[int], None]

# Error codes that mean the configuration is wrong, not that the network hiccuped.
_CONFIG_ERRORS = {
    "AccessDenied": "check the storage keys and the bucket's permissions",
    "InvalidAccessKeyId": "check s3.access_key_id",
    "SignatureDoesNotMatch": "check s3.secret_access_key",
    "NoSuchBucket": "create the bucket or fix s3.bucket",
    "InvalidBucketName": "fix s3.bucket",
}
_RUNPOD_S3 = re.compile(r"^https://s3api-[a-z0-9-]+\.runpod\.io/?$")


def uses_volume(settings: S3Settings) -> bool:
    """Whether workers reach this storage as a mounted volume (RunPod's S3 API serves a
    network volume and has no presigned URLs) rather than through presigned URLs."""
    if settings.access != "auto":
        return settings.access == "volume"
    return bool(settings.endpoint_url and _RUNPOD_S3.match(settings.endpoint_url))


class TransferStats(BaseModel):
    files: int = 0
    sent: int = 0
    skipped: int = 0
    bytes: int = 0


class GcReport(BaseModel):
    removed: int
    bytes: int
    kept: int
    dry_run: bool


class Store:
    """One bucket and prefix; thread-safe (boto3 clients are)."""

    def __init__(self, settings: S3Settings) -> None:
        try:
            import boto3
            from boto3.s3.transfer import TransferConfig
            from botocore.config import Config
        except ImportError as exc:
            raise BadInput(
                "remote backends need boto3", fix="pip install 'vfx-ingest[runpod]' (or [s3])"
            ) from exc
        if not settings.bucket:
            raise BadInput(
                "no object storage is configured for remote runs",
                fix="Set s3.bucket (and s3.endpoint_url for R2, MinIO or a RunPod volume) "
                "in the user config or VFX_INGEST_S3__BUCKET",
            )
        redact.install()
        key_id = settings.access_key_id.get_secret_value() if settings.access_key_id else None
        secret = (
            settings.secret_access_key.get_secret_value() if settings.secret_access_key else None
        )
        redact.register_secret(secret)
        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.client = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(
                signature_version="s3v4",
                retries={"max_attempts": 10, "mode": "standard"},
                connect_timeout=10,
                max_pool_connections=32,  # upload threads x multipart parts
                read_timeout=300,
                # Path-style URLs work on every S3-compatible server (MinIO, RunPod, moto).
                s3={"addressing_style": "path" if settings.endpoint_url else "auto"},
            ),
        )
        chunk = settings.multipart_chunk_mb * MiB
        self.transfer = TransferConfig(
            multipart_threshold=chunk, multipart_chunksize=chunk, max_concurrency=8
        )

    @property
    def cas_prefix(self) -> str:
        return f"{self.prefix}cas/"

    def key_for(self, sha256: str) -> str:
        return object_key(self.cas_prefix, sha256)

    # ------------------------------------------------------------------ objects

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._error(exc, f"cannot check {key}") from exc
        return True

    def put_files(
        self,
        files: Iterable[tuple[Path, FileDigest]],
        on_bytes: ByteFn | None = None,
        *,
        workers: int = 8,
    ) -> TransferStats:
        """Upload each file to its content-addressed key unless the key exists already.
        ``on_bytes`` counts bytes settled: sent, or found stored (so a bar completes)."""
        unique = {digest.sha256: (path, digest) for path, digest in files}
        stats = TransferStats(files=len(unique))

        def one(item: tuple[Path, FileDigest]) -> int:
            path, digest = item
            key = self.key_for(digest.sha256)
            if self.exists(key):
                if on_bytes is not None:
                    on_bytes(digest.size)
                return -1
            self._upload(path, key, on_bytes)
            return digest.size

        with ThreadPoolExecutor(workers, thread_name_prefix="upload") as pool:
            for sent in pool.map(one, unique.values()):
                if sent < 0:
                    stats.skipped += 1
                else:
                    stats.sent += 1
                    stats.bytes += sent
        return stats

    def _upload(self, path: Path, key: str, on_bytes: ByteFn | None) -> None:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.upload_file(
                str(path), self.bucket, key, Config=self.transfer, Callback=on_bytes
            )
        except ClientError as exc:
            raise self._error(exc, f"cannot upload {path.name}") from exc
        except (S3UploadFailedError, BotoCoreError) as exc:
            raise StageFailed(f"cannot upload {path.name}: {redact.text(str(exc))}") from exc

    def download(
        self, key: str, dest: Path, sha256: str, size: int, on_bytes: ByteFn | None = None
    ) -> FileDigest:
        """Fetch ``key`` to ``dest`` (atomically) and check it is the content we expect."""
        from botocore.exceptions import BotoCoreError, ClientError

        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic.target(dest) as tmp:
            try:
                self.client.download_file(
                    self.bucket, key, str(tmp), Config=self.transfer, Callback=on_bytes
                )
            except ClientError as exc:
                raise self._error(exc, f"cannot download {dest.name}") from exc
            except BotoCoreError as exc:
                raise StageFailed(f"cannot download {dest.name}: {redact.text(str(exc))}") from exc
            got = sha256_file(tmp)
            if got != sha256 or tmp.stat().st_size != size:
                raise StageFailed(
                    f"{dest.name} came back corrupted or altered (sha256 {got[:12]}…, "
                    f"expected {sha256[:12]}…)",
                    fix="Run again; `vfx-ingest storage gc` clears stored objects",
                )
        st = dest.stat()
        return FileDigest(sha256=sha256, size=st.st_size, mtime_ns=st.st_mtime_ns)

    def get_json(self, key: str) -> Any | None:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._error(exc, f"cannot read {key}") from exc
        return json.loads(body)

    def put_json(self, key: str, value: Any) -> None:
        self.put_bytes(key, json.dumps(value, separators=(",", ":")).encode(), "application/json")

    def put_bytes(self, key: str, body: bytes, content_type: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        except ClientError as exc:
            raise self._error(exc, f"cannot write {key}") from exc

    def delete(self, keys: Iterable[str]) -> None:
        # One request per key: RunPod's S3 API has no DeleteObjects.
        for key in keys:
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def presign_get(self, key: str, expires_s: int) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )

    def presign_delete(self, key: str, expires_s: int) -> str:
        return self.client.generate_presigned_url(
            "delete_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )

    def presign_put(self, key: str, expires_s: int) -> str:
        return self.client.generate_presigned_url(
            "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )

    # ---------------------------------------------------------------- retention

    def gc(self, older_than: timedelta, *, dry_run: bool = False) -> GcReport:
        """Remove our objects (everything under the prefix) last written before the cutoff."""
        from botocore.exceptions import ClientError

        cutoff = datetime.now(UTC) - older_than
        old: list[tuple[str, int]] = []
        kept = 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    if item["Key"].endswith("/"):
                        continue  # RunPod's API lists directories too
                    if item["LastModified"] < cutoff:
                        old.append((item["Key"], item["Size"]))
                    else:
                        kept += 1
            if not dry_run:
                with ThreadPoolExecutor(8, thread_name_prefix="gc") as pool:
                    list(pool.map(lambda k: self.delete([k]), (key for key, _ in old)))
        except ClientError as exc:
            raise self._error(exc, "cannot clean up the bucket") from exc
        return GcReport(
            removed=len(old), bytes=sum(size for _, size in old), kept=kept, dry_run=dry_run
        )

    def _error(self, exc: Exception, what: str) -> Exception:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        where = f"s3://{self.bucket}/{self.prefix}"
        if code in _CONFIG_ERRORS:
            return BadInput(f"{what}: {code}", where=where, fix=_CONFIG_ERRORS[code].capitalize())
        return StageFailed(f"{what}: {redact.text(str(exc))}", where=where)


def parse_age(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``90s``, ``2w`` as a timedelta."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise BadInput(
            f"cannot read the age {text!r}", fix="Write a number and a unit: 90s, 30m, 12h, 7d, 2w"
        )
    value, unit = float(match.group(1)), match.group(2)
    return timedelta(seconds=value * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit])
