"""No secret and no presigned signature reaches logs, stdout, stderr or shot.json.

Runs against our RunPod-compatible endpoint on 127.0.0.1 (it follows RunPod's published
serverless API and runs the real handler) and moto's S3 server.
"""

from __future__ import annotations

import logging

from vfx_ingest import redact
from vfx_ingest.stages import REGISTRY
from vfx_ingest.storage import Store

from remote_stages import EXPLODE


def test_nothing_secret_is_logged_printed_or_recorded(
    endpoint, s3, clips, cli, tmp_path, monkeypatch, caplog
):
    api_key = endpoint.api_key  # the endpoint's token, which the client sends
    monkeypatch.setitem(REGISTRY, "explode", EXPLODE)
    urls: list[str] = []
    for name in ("presign_get", "presign_put"):
        real = getattr(Store, name)

        def spy(self, key, expires, real=real):
            url = real(self, key, expires)
            urls.append(url)
            return url

        monkeypatch.setattr(Store, name, spy)
    caplog.set_level(logging.DEBUG)
    shot = tmp_path / "shot"
    texts = []
    for args in (
        ("--json",),
        ("--force",),
        ("--stages", "explode"),  # a failure: error lines and records
    ):
        result = cli(
            "run", clips(frames=4), "--shot", shot, "--backend", "runpod-serverless", *args
        )
        texts += [result.stdout, result.stderr]
    texts += [caplog.text, (shot / "shot.json").read_text()]
    signatures = [url.split("X-Amz-Signature=")[1] for url in urls]
    assert len(signatures) >= 6  # inputs, mailboxes and outputs were all presigned
    everything = "\n".join(texts)
    assert "boom on the worker" in everything  # the scan reads what was produced
    for secret in (api_key, s3.secret, *signatures):
        assert secret not in everything


def test_redaction_masks_queries_bearers_and_registered_secrets(caplog):
    redact.install()
    redact.register_secret("hunter2-secret-value")
    line = (
        "GET https://b.s3.amazonaws.com/k?X-Amz-Signature=abc&X-Amz-Credential=AKIA "
        "with Authorization: Bearer rpa_abcdef and hunter2-secret-value"
    )
    assert redact.text(line) == (
        "GET https://b.s3.amazonaws.com/k?*** with Authorization: Bearer *** and ***"
    )
    caplog.set_level(logging.INFO)
    logging.getLogger("some.library").info("fetching %s", "http://h/x?Signature=zzz")
    assert "zzz" not in caplog.text and "http://h/x?***" in caplog.text


def test_redaction_masks_user_info_in_urls():
    line = "retrying https://deploy:s3cr3t-pw@models.studio.example/vda.pth and http://h/x"
    assert redact.text(line) == (
        "retrying https://***@models.studio.example/vda.pth and http://h/x"
    )
