"""Model weights on the RunPod network volume (``runpod.network_volume_id``), through the
volume's S3-compatible API (``runpod.volume_s3_url``; the bucket is the volume's id).

The layout is the worker image's (``backends/runpod/deploy.py``, ``--models volume``):
``<s3.prefix>models/<id>/...`` and ``<s3.prefix>hf/...`` under the volume's mount, with
the sync index (each model's digest, each file's sha256) beside them. The sync itself is
the one Modal's volume uses (``modal/models_volume.sync``: same index, files already there
with the same digest are skipped); :class:`S3Volume` maps its paths onto this layout.

``models sync --to runpod-pod`` creates the volume through REST v2 in ``runpod.data_center``
when none is configured, and saves its id in the user config. Before a pod run pays for a
GPU, :func:`require` names each model the volume lacks (or holds with another digest, or
with a file of the wrong size) and the command that uploads it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from ....config import Settings, save_user_values
from ....errors import BadInput
from ....job import ModelRef
from ...modal.models_volume import INDEX, Index, VolumeTarget
from ...modal.seam import Entry, Writable, read_bytes
from ...modal.spec import HF_SUBDIR, MODELS_SUBDIR


def sync_fix(model_ids: list[str] | None = None) -> str:
    ids = "".join(" " + m for m in model_ids or [])
    return f"Run `vfx-ingest models sync{ids} --to runpod-pod`"


class S3Volume:
    """The network volume as the Modal sync's ``VolumeCalls``, over its S3 API."""

    def __init__(self, settings: Settings, volume_id: str) -> None:
        from ....storage import Store

        rp, s3 = settings.runpod, settings.s3
        url = rp.volume_s3_url.format(data_center=rp.data_center.lower())
        self.store = Store(
            s3.model_copy(update={"bucket": volume_id, "endpoint_url": url, "access": "volume"})
        )
        self.name = f"network volume {volume_id}"
        self.root = s3.prefix
        # The Modal layout's folders -> the RunPod worker's (deploy.py: models, hf).
        self.folders = {MODELS_SUBDIR: "models", HF_SUBDIR: HF_SUBDIR}

    def key(self, path: str) -> str:
        head, _, rest = path.partition("/")
        if head in self.folders:
            return f"{self.root}{self.folders[head]}/{rest}"
        return f"{self.root}{path}"

    def listdir(self, path: str, recursive: bool = False) -> list[Entry]:
        base = self.key(path).rstrip("/") + "/"
        pages = self.store.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.store.bucket, Prefix=base
        )
        found = [(item["Key"], item["Size"]) for page in pages for item in page.get("Contents", [])]
        return [Entry(path.rstrip("/") + "/" + k[len(base) :], size) for k, size in found]

    def read(self, path: str, into: Writable) -> None:
        from botocore.exceptions import ClientError

        try:
            answer = self.store.client.get_object(Bucket=self.store.bucket, Key=self.key(path))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(path) from exc
            raise
        for chunk in answer["Body"].iter_chunks(1 << 20):
            into.write(chunk)

    def upload(self, files: list[tuple[Path | bytes, str]]) -> None:
        for source, dest in files:
            if isinstance(source, bytes):
                self.store.put_bytes(self.key(dest), source, "application/octet-stream")
            else:
                self.store.client.upload_file(
                    str(source), self.store.bucket, self.key(dest), Config=self.store.transfer
                )

    def remove(self, path: str) -> None:
        keys = [self.key(e.path) for e in self.listdir(path, recursive=True)] or [self.key(path)]
        self.store.delete(keys)


def sync_models(settings: Settings) -> VolumeTarget:
    """The ``sync_models`` hook: the network volume (created when none is configured),
    reached before anything is downloaded."""
    from .control import PodControl

    rp = settings.runpod
    control = PodControl(rp.rest_url, rp.api_key.get_secret_value() if rp.api_key else None)
    try:
        volume_id = rp.network_volume_id
        if volume_id and control.volume(volume_id) is None:
            raise BadInput(
                f"RunPod has no network volume {volume_id} (runpod.network_volume_id)",
                fix="Unset runpod.network_volume_id to create one, or correct it",
            )
        if not volume_id:
            made = control.create_volume(
                {
                    "name": "vfx-ingest-models",
                    "size": rp.volume_size_gb,
                    "dataCenter": rp.data_center,
                }
            )
            volume_id = made["id"]
            save_user_values({"runpod.network_volume_id": volume_id})
    finally:
        control.close()
    volume = S3Volume(settings, volume_id)
    volume.listdir("")  # reach it (keys, bucket) before any download
    return VolumeTarget(volume, f"the RunPod {volume.name}")


def require(settings: Settings, refs: list[ModelRef]) -> None:
    """BadInput naming each model the volume lacks or holds damaged, with the command
    that uploads it: checked before a pod (a GPU) is paid for."""
    volume_id = settings.runpod.network_volume_id
    if not refs or not volume_id:
        return
    volume = S3Volume(settings, volume_id)
    index = Index()
    with contextlib.suppress(ValueError):
        index = Index.model_validate_json(read_bytes(volume, INDEX) or b"{}")
    sizes: dict[str, int] = {}
    bad = []
    for ref in refs:
        known = index.models.get(ref.id)
        if known is None or (ref.digest is not None and known.digest != ref.digest):
            bad.append(ref.id)
            continue
        for dest, sent in known.files.items():
            root = dest.split("/", 2)
            folder = "/".join(root[:2])
            if folder not in sizes:
                sizes.update({e.path: e.size for e in volume.listdir(folder, recursive=True)})
            if sizes.get(dest) != sent.size:
                bad.append(ref.id)
                break
    if bad:
        raise BadInput(
            f"the RunPod {volume.name} lacks {', '.join(bad)} or holds a damaged copy",
            fix=sync_fix(bad),
        )
