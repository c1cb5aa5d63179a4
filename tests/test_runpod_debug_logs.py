"""Redaction holds when the RunPod SDK logs at DEBUG, where it prints whole jobs (their
presigned URLs included): the real handler under the SDK's ``--test_input`` runtime, with
moto's S3 server."""

from __future__ import annotations

from test_runpod_handler import SdkTestInputTransport, run_remote


def test_the_sdk_at_debug_prints_no_signature(s3, clips, tmp_path, monkeypatch):
    monkeypatch.setenv("RUNPOD_LOG_LEVEL", "DEBUG")  # the worker inherits it
    transport = SdkTestInputTransport()
    signatures: list[str] = []
    result = run_remote(clips(frames=2), tmp_path / "shot", transport, signatures)
    assert result.status == "ok", result.error
    ((stdout, stderr),) = transport.outputs.values()
    assert "DEBUG" in stdout and "?***" in stdout  # the SDK printed the job's URLs...
    assert signatures and not any(sig in stdout + stderr for sig in signatures)  # ...masked
    assert s3.secret not in stdout + stderr
