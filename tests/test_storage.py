"""Object storage against moto's S3 server on 127.0.0.1 (a real S3 HTTP server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from vfx_ingest.config import load_settings
from vfx_ingest.digest import file_digest
from vfx_ingest.errors import BadInput, StageFailed
from vfx_ingest.storage import Store, parse_age, uses_volume


def files(tmp_path: Path, count: int, size: int = 1000) -> list[Path]:
    paths = []
    for i in range(count):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


def test_uploads_are_content_addressed_and_a_rerun_sends_nothing(s3, tmp_path):
    store = Store(load_settings().s3)
    paths = files(tmp_path, 5)
    paths.append(tmp_path / "copy.bin")
    paths[-1].write_bytes(paths[0].read_bytes())  # same content, one object
    sent: list[int] = []
    first = store.put_files([(p, file_digest(p)) for p in paths], sent.append)
    assert (first.files, first.sent, first.skipped, first.bytes) == (5, 5, 0, 5000)
    assert sum(sent) == 5000
    keys = s3.object_keys()
    assert len(keys) == 5 and all(k.startswith("vfx-ingest/cas/") for k in keys)
    digest = file_digest(paths[0])
    assert store.key_for(digest.sha256) in keys

    settled: list[int] = []
    second = store.put_files([(p, file_digest(p)) for p in paths], settled.append)
    assert (second.sent, second.skipped, second.bytes) == (0, 5, 0)
    assert sum(settled) == 5000  # found stored: the progress bar still completes


def test_presigned_urls_work_from_another_process_without_credentials(s3, tmp_path):
    store = Store(load_settings().s3)
    (source,) = files(tmp_path, 1)
    digest = file_digest(source)
    store.put_files([(source, digest)])
    get = store.presign_get(store.key_for(digest.sha256), 60)
    put = store.presign_put("vfx-ingest/jobs/x/out.bin", 60)
    assert "X-Amz-Expires=60" in get and "X-Amz-Signature=" in put
    code = (
        "import sys, urllib.request\n"
        "data = urllib.request.urlopen(sys.argv[1]).read()\n"
        "req = urllib.request.Request(sys.argv[2], data=data[::-1], method='PUT',\n"
        "    headers={'Content-Type': 'application/octet-stream'})\n"
        "print(len(data), urllib.request.urlopen(req).status)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VFX_INGEST_", "AWS_"))}
    done = subprocess.run(
        [sys.executable, "-c", code, get, put], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1000", "200"]
    body = s3.client.get_object(Bucket=s3.bucket, Key="vfx-ingest/jobs/x/out.bin")["Body"].read()
    assert body == source.read_bytes()[::-1]


def test_large_files_go_up_in_parts_and_come_back_verified(s3, tmp_path, monkeypatch):
    monkeypatch.setenv("VFX_INGEST_S3__MULTIPART_CHUNK_MB", "5")
    store = Store(load_settings().s3)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(11 * 1024 * 1024))
    digest = file_digest(big)
    store.put_files([(big, digest)])
    key = store.key_for(digest.sha256)
    etag = s3.client.head_object(Bucket=s3.bucket, Key=key)["ETag"]
    assert etag.strip('"').endswith("-3"), etag  # three parts: 5 + 5 + 1 MB

    back = tmp_path / "back" / "big.bin"
    got = store.download(key, back, digest.sha256, digest.size)
    assert back.read_bytes() == big.read_bytes() and got.sha256 == digest.sha256

    # Content that does not match its digest is refused and leaves nothing behind.
    s3.client.put_object(Bucket=s3.bucket, Key=key, Body=b"tampered")
    bad = tmp_path / "bad" / "big.bin"
    with pytest.raises(StageFailed, match="corrupted or altered"):
        store.download(key, bad, digest.sha256, digest.size)
    assert not bad.exists() and list(bad.parent.iterdir()) == []


def test_gc_removes_only_our_objects_past_the_age(s3, tmp_path):
    store = Store(load_settings().s3)
    old, new = files(tmp_path, 2)
    s3.client.put_object(Bucket=s3.bucket, Key="someone-else/keep.bin", Body=b"x")
    store.put_files([(old, file_digest(old))])
    time.sleep(1.5)
    store.put_files([(new, file_digest(new))])
    dry = store.gc(timedelta(seconds=1), dry_run=True)
    assert (dry.removed, dry.kept, dry.dry_run) == (1, 1, True) and len(s3.object_keys()) == 3
    report = store.gc(timedelta(seconds=1))
    assert (report.removed, report.bytes, report.kept) == (1, 1000, 1)
    assert s3.object_keys() == sorted(
        ["someone-else/keep.bin", store.key_for(file_digest(new).sha256)]
    )


def test_storage_gc_command(s3, tmp_path, cli):
    store = Store(load_settings().s3)
    paths = files(tmp_path, 3)
    store.put_files([(p, file_digest(p)) for p in paths])
    result = cli("storage", "gc", "--older-than", "7d", "--json")
    assert result.exit_code == 0
    # One JSON object per backend that stores objects (the registry's `cleanup` hooks).
    assert json.loads(result.stdout) == {
        "backend": "runpod-serverless",
        "where": f"s3://{s3.bucket}/vfx-ingest/",
        "removed": 0,
        "bytes": 0,
        "kept": 3,
        "dry_run": False,
    }
    human = cli("storage", "gc", "--older-than", "0s")
    assert human.exit_code == 0 and "removed 3 objects" in human.stdout
    assert s3.object_keys() == []
    bad = cli("storage", "gc", "--older-than", "soon")
    assert bad.exit_code == 2 and "cannot read the age" in bad.stderr


def test_storage_errors_are_one_line_with_a_fix(s3, monkeypatch, cli):
    monkeypatch.setenv("VFX_INGEST_S3__BUCKET", "no-such-bucket-here")
    result = cli("storage", "gc")
    assert result.exit_code == 2
    assert "NoSuchBucket" in result.stderr and "create the bucket" in result.stderr.lower()
    monkeypatch.delenv("VFX_INGEST_S3__BUCKET")
    with pytest.raises(BadInput, match="no object storage"):
        Store(load_settings().s3)


def test_ages_and_access_modes():
    assert parse_age("7d") == timedelta(days=7)
    assert parse_age(" 90s ") == timedelta(seconds=90)
    assert parse_age("1.5h") == timedelta(minutes=90)
    with pytest.raises(BadInput):
        parse_age("7 days")
    settings = load_settings().s3
    assert not uses_volume(settings)
    runpod = settings.model_copy(update={"endpoint_url": "https://s3api-eu-ro-1.runpod.io/"})
    assert uses_volume(runpod)
    assert not uses_volume(runpod.model_copy(update={"access": "presigned"}))
