"""The dashboard over HTTP, everything that needs no JavaScript: pages, proxies, the run
event stream, the token and Host checks, paths kept inside the roots, upload limits."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vfx_ingest.ui.app import create_app

from conftest import REPO, Cli
from support.ui_shots import make_shot

TOKEN = "t0ken-for-tests"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("roots") / "shots"
    make_shot(folder / "seq" / "sh010")
    return folder


def recorded_stages() -> list[str]:
    """The stages ``make_shot`` records, in its order: those of its passes this build has."""
    from vfx_ingest.stages import REGISTRY

    return [name for name in ("ingest", "depth", "roto", "matte", "camera") if name in REGISTRY]


def client(root: Path, **kwargs: object) -> TestClient:
    app = create_app([root], token=TOKEN, hosts={"testserver"}, **kwargs)  # type: ignore[arg-type]
    return TestClient(app, headers={"authorization": f"Bearer {TOKEN}"})


def test_shots_page_lists_each_shot_with_its_stages_and_thumbnail(root: Path):
    http = client(root)
    page = http.get("/")
    assert page.status_code == 200
    row = re.search(r'<tr class="shot" data-shot="0/seq/sh010">(.+?)</tr>', page.text, re.S)
    assert row is not None
    for chip in ("ingest: done", "depth: done", "camera: done"):
        assert chip in row.group(1)
    assert "1001-1012" in row.group(1) and "64x48" in row.group(1)
    thumb = http.get("/thumb/0/seq/sh010")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"  # a JPEG


def test_shot_page_has_every_pass_the_timeline_and_the_camera(root: Path):
    page = client(root).get("/shot/0/seq/sh010").text
    data = json.loads(re.search(r'id="shot-data">(.+?)</script>', page).group(1))
    assert set(data["layers"]) == {"plate", "depth", "roto:person", "matte:person"}
    assert data["frames"] == list(range(1001, 1013)) and data["fps"] == 24
    assert re.findall(r'class="stage-row" data-stage="(\w+)"', page) == recorded_stages()
    assert 'href="/files/0/seq/sh010/camera/camera.chan"' in page
    cameras = json.loads((root / "seq/sh010/camera/cameras.json").read_text())["frames"]
    top = re.search(r'data-view="top"(.+?)</svg>', page, re.S).group(1)
    every = int(re.search(r"A frustum every (\d+) frames", page).group(1))
    drawn = [int(f) for f in re.findall(r'class="frustum[^"]*" data-frame="(\d+)"', top)]
    assert drawn == [f["frame"] for f in cameras[::every]]


def test_proxies_are_made_once_beside_the_shot_and_status_ignores_them(root: Path, cli: Cli):
    http, shot = client(root), root / "seq" / "sh010"
    images = {}
    for layer in ("plate", "depth", "roto:person", "matte:person"):
        answer = http.get("/proxy/0/seq/sh010", params={"layer": layer, "frame": 1004})
        assert answer.status_code == 200
        images[layer] = answer.content
    assert len(set(images.values())) == 4  # each pass looks different
    proxy = shot / ".ui" / "proxy" / "depth" / "1004.jpg"
    made = proxy.stat().st_mtime_ns
    http.get("/proxy/0/seq/sh010", params={"layer": "depth", "frame": 1004})
    assert proxy.stat().st_mtime_ns == made  # served from the cache, not made again
    assert http.get("/api/depth-range/0/seq/sh010").json()["low"] == pytest.approx(0.1)
    status = cli("status", shot, "--json")
    assert status.exit_code == 0
    records = json.loads(status.stdout)["stages"]
    assert not any(".ui" in rel for r in records.values() for rel in r["outputs"])
    table = cli("status", shot)
    assert "stale" not in table.stdout
    assert table.stdout.count("done") == len(recorded_stages())


def test_every_request_needs_the_token_then_a_cookie(root: Path):
    app = create_app([root], token=TOKEN, hosts={"testserver"})
    anonymous = TestClient(app)
    for url in ("/", "/static/ui.js", "/shot/0/seq/sh010", "/files/0/seq/sh010/shot.json"):
        assert anonymous.get(url).status_code == 403
    assert anonymous.get("/?token=wrong").status_code == 403
    first = anonymous.get(f"/?token={TOKEN}")
    assert first.status_code == 200 and "HttpOnly" in first.headers["set-cookie"]
    assert anonymous.get("/static/ui.js").status_code == 200  # the cookie now
    assert "script-src" not in first.headers["content-security-policy"]  # default-src 'self'


def test_the_host_header_must_name_this_server(root: Path):
    http = client(root)
    assert http.get("/", headers={"host": "evil.example"}).status_code == 403
    assert http.get("/", headers={"host": "testserver:8470"}).status_code == 200


def test_paths_outside_the_roots_are_not_found(root: Path, tmp_path: Path):
    secret = root.parent / "secret.txt"
    secret.write_text("outside the roots")
    (root / "seq" / "link").symlink_to(secret)
    (root / "escape").symlink_to(root.parent, target_is_directory=True)
    http = client(root)
    for url in (
        "/files/0/%2e%2e/secret.txt",
        "/files/0/seq/%2e%2e/%2e%2e/secret.txt",
        "/files/0/..%2fsecret.txt",
        "/files/0/seq/link",
        "/files/0/escape/secret.txt",
        "/files/1/secret.txt",
        "/files/x/secret.txt",
        f"/files/0/{secret}",
        "/shot/0/escape",
    ):
        answer = http.get(url)
        assert answer.status_code == 404, url
        assert "outside the roots" not in answer.text
    assert http.get("/files/0/seq/sh010/shot.json").status_code == 200
    for layer in ("roto:../../seq", "roto:..", "plate:x", "roto", "nope", "matte:.hidden"):
        answer = http.get("/proxy/0/seq/sh010", params={"layer": layer, "frame": 1001})
        assert answer.status_code == 404, layer


def test_uploads_go_into_the_root_and_stop_at_the_limit(root: Path):
    http = client(root, upload_limit=1000)
    ok = http.put("/api/upload", params={"root": 0, "name": "clip.mp4"}, content=b"x" * 500)
    assert ok.status_code == 200 and Path(ok.json()["path"]) == root / "uploads" / "clip.mp4"
    big = http.put("/api/upload", params={"root": 0, "name": "big.mp4"}, content=b"x" * 2000)
    assert big.status_code == 413 and "limit" in big.json()["error"]
    # Without a Content-Length the limit holds while streaming.
    chunks = (b"x" * 300 for _ in range(5))
    streamed = http.put("/api/upload", params={"root": 0, "name": "big.mp4"}, content=chunks)
    assert streamed.status_code == 413
    assert sorted(p.name for p in (root / "uploads").iterdir()) == ["clip.mp4"]
    for name in ("../x.mp4", ".hidden", "a/b.mp4"):
        answer = http.put("/api/upload", params={"root": 0, "name": name}, content=b"x")
        assert answer.status_code == 400, name


def test_runs_start_only_on_clips_under_the_roots(root: Path, tmp_path: Path):
    outside = tmp_path / "clip.mp4"
    outside.write_bytes(b"x")
    (root / "linked.mp4").symlink_to(outside)
    http = client(root)
    for clip in (str(outside), "clip.mp4", str(root / "linked.mp4"), str(root / "none.mp4")):
        answer = http.post("/api/runs", json={"clip": clip})
        assert answer.status_code == 400 and "under the shot roots" in answer.json()["error"]
    answer = http.post("/api/runs", json={"clip": str(root), "stages": ["nope"]})
    assert answer.status_code == 400 and "unknown stage 'nope'" in answer.json()["error"]


def read_events(http: TestClient, run_id: str) -> list[dict]:
    events = []
    with http.stream("GET", f"/api/runs/{run_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
    return events


def test_a_bad_clip_shows_the_clis_own_error_line_over_the_event_stream(root: Path, cli: Cli):
    bad = root / "notes.mp4"
    bad.write_text("not a video")
    expected = Cli.json_lines(cli("run", bad, "--shot", root / "x", "--json").stdout)[-1]
    http = client(root)
    started = http.post("/api/runs", json={"clip": str(bad), "stages": ["ingest"]})
    assert started.status_code == 200
    events = read_events(http, started.json()["id"])
    assert events[-1]["type"] == "exit" and events[-1]["exit_code"] == 2
    assert events[-1]["error"] == expected["error"]
    assert "not a video file" in expected["error"]
    assert not (root / "notes").exists()  # nothing written for bad input


def test_the_ui_command_prints_a_tokened_url_and_warns_off_localhost(tmp_path: Path):
    import httpx

    # The "browser" records what it was asked to open (webbrowser honours $BROWSER).
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    browser.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "BROWSER": f"{browser} %s"}
    command = [sys.executable, "-m", "vfx_ingest", "ui", "--port", "0"]
    command += ["--root", str(tmp_path), "--host", "127.0.0.2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        url = process.stdout.readline().decode().strip()
        assert re.fullmatch(r"http://127\.0\.0\.2:\d+/\?token=[\w-]{20,}", url)
        base = url.split("/?")[0]
        for _ in range(100):
            try:
                page = httpx.get(url, timeout=5)
                break
            except httpx.ConnectError:
                import time

                time.sleep(0.1)
        assert page.status_code == 200 and "Shots" in page.text
        assert httpx.get(base + "/", timeout=5).status_code == 403
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert "warning: listening on 127.0.0.2" in stderr.decode()
    assert opened.read_text().strip() == url
    assert url.split("token=")[1] not in stderr.decode()  # no access log line with the token


def test_the_ui_command_loads_no_web_framework_until_it_runs():
    code = "import sys, vfx_ingest.cli.ui_cmd; print('fastapi' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "False"


def test_remote_resources_page_names_every_backend_through_its_hooks(root: Path):
    from vfx_ingest.backends import BACKENDS, with_hook

    page = client(root).get("/resources").text
    sections = dict(
        re.findall(r'<section class="backend" data-backend="([\w-]+)">(.+?)</section>', page, re.S)
    )
    assert list(sections) == list(BACKENDS)
    for spec in BACKENDS.values():
        assert ('class="cleanup"' in sections[spec.name]) == spec.has("cleanup")
        if not spec.has("resources"):
            assert "no resources hook" in sections[spec.name]
    assert with_hook("cleanup")  # what the clean-up test below exercises


def test_clean_up_runs_the_clis_storage_gc(root: Path, s3):
    """The real `storage gc` against moto's S3 server on 127.0.0.1 (the `s3` fixture)."""
    from vfx_ingest.backends import with_hook

    name = with_hook("cleanup")[0].name
    s3.client.put_object(Bucket=s3.bucket, Key="vfx-ingest/objects/ab/old", Body=b"x" * 10)
    http = client(root)
    answer = http.post(f"/api/resources/{name}/cleanup", json={"older_than": "0s", "dry_run": True})
    report = answer.json()
    assert report["error"] is None
    assert report["reports"][0] | {"where": ""} == {
        "backend": name, "where": "", "removed": 1, "bytes": 10, "kept": 0, "dry_run": True
    }  # fmt: skip
    assert s3.object_keys() == ["vfx-ingest/objects/ab/old"]  # a dry run removes nothing
    done = http.post(f"/api/resources/{name}/cleanup", json={"older_than": "0s"}).json()
    assert done["reports"][0]["removed"] == 1 and s3.object_keys() == []
    bad = http.post(f"/api/resources/{name}/cleanup", json={"older_than": "soon"}).json()
    assert bad["reports"] == [] and "soon" in bad["error"]
    assert http.post("/api/resources/nowhere/cleanup", json={}).status_code == 404


def test_the_timeline_shows_remote_jobs_chunk_grids_and_errors(tmp_path: Path):
    from vfx_ingest.shot import ShotFolder

    shot = ShotFolder(make_shot(tmp_path / "sh020", passes=("plate", "depth", "camera")))
    manifest = shot.load_manifest()
    chunk = {"device": "NVIDIA L4", "wall_s": 12.0}
    manifest.stages["depth"].stats = {
        "chunks": [
            {**chunk, "frames": "1001-1006", "stats": {"remote": {"job": "job-a"}}},
            {**chunk, "frames": "1005-1012", "stats": {"remote": {"job": "job-b"}}},
        ]
    }
    manifest.stages["ingest"].stats = {"remote": {"job": "sync-123", "device": "cpu"}}
    camera = manifest.stages["camera"]
    camera.status, camera.error = "failed", "camera: only 3 frames registered"
    shot.save_manifest(manifest)
    page = client(tmp_path).get("/shot/0/sh020").text
    rows = dict(re.findall(r'data-stage="(\w+)">(.+?)</tr>', page, re.S))
    assert re.findall(r'class="cell"[^>]*>([^<]+)<', rows["depth"]) == ["1001-1006", "1005-1012"]
    assert 'title="job-a NVIDIA L4 12.0 s"' in rows["depth"]
    assert ">sync-123<" in rows["ingest"]
    assert 'chip failed">failed' in rows["camera"] and "only 3 frames registered" in rows["camera"]


def test_a_pass_changed_on_disk_shows_as_stale(tmp_path: Path):
    shot = make_shot(tmp_path / "sh030", passes=("plate",))
    (shot / "plate" / "plate.1003.png").write_bytes(b"retouched by hand")
    row = re.search(r'data-shot="0/sh030">(.+?)</tr>', client(tmp_path).get("/").text, re.S)
    assert 'class="chip stale" title="outputs missing or modified">ingest: stale' in row.group(1)


def test_the_cost_estimate_comes_from_the_cost_command(root: Path, tmp_path: Path):
    import shutil

    from conftest import EXAMPLES

    clip = root / "estimate.mp4"
    shutil.copyfile(EXAMPLES / "courtyard.mp4", clip)
    http = client(root)
    query = {"clip": str(clip), "stages": "ingest", "backend": "local"}
    answer = http.get("/api/estimate", params=query).json()
    assert answer["error"] is None
    assert [(e["backend"], e["gpu"]) for e in answer["estimates"]] == [("local", "cpu")]
    outside = http.get("/api/estimate", params={**query, "clip": str(tmp_path / "x.mp4")})
    assert "under the shot roots" in outside.json()["error"]
    unknown = http.get("/api/estimate", params={**query, "backend": "nowhere"}).json()
    assert unknown["estimates"] == [] and "nowhere" in unknown["error"]


def test_a_damaged_manifest_is_one_line_not_a_crash(tmp_path: Path):
    shot = make_shot(tmp_path / "sh040", passes=("plate",))
    (shot / "shot.json").write_text("{ not json")
    http = client(tmp_path)
    listing = http.get("/")
    assert listing.status_code == 200 and "cannot read the manifest" in listing.text
    page = http.get("/shot/0/sh040")
    assert page.status_code == 409 and "cannot read the manifest" in page.json()["detail"]


def test_the_page_assets_ship_in_the_package(tmp_path: Path):
    import zipfile

    from vfx_ingest.wheel import build_wheel

    names = set(zipfile.ZipFile(build_wheel(tmp_path)).namelist())
    for asset in ("static/ui.js", "static/ui.css", "templates/base.html", "templates/shot.html"):
        assert f"vfx_ingest/ui/{asset}" in names
    script = (REPO / "src/vfx_ingest/ui/static/ui.js").read_text()
    assert "http://" not in script and "https://" not in script  # nothing from a CDN


def test_remote_resources_come_from_the_backends_resources_hook(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Modal's hook against the project's Modal double (tests/modal_double.py): Modal's
    control plane cannot be reached from tests."""
    from vfx_ingest.backends.modal import seam

    from modal_double import FakeModal

    volumes = tmp_path / "modal"
    (volumes / "vfx-models").mkdir(parents=True)
    (volumes / "vfx-models" / "weights.bin").write_bytes(b"w" * 1234)
    monkeypatch.setattr(seam, "connect", lambda: FakeModal(volumes))
    page = client(root).get("/resources").text
    modal = re.search(r'data-backend="modal">(.+?)</section>', page, re.S).group(1)
    cells = re.findall(r"<td>([^<]*)</td>", modal)
    headers = re.findall(r"<th>([^<]*)</th>", modal)
    assert dict(zip(headers, cells, strict=True)) == {
        "kind": "volume", "name": "vfx-models", "id": "", "status": "",
        "detail": "models: none", "size": "1.2 kB",
    }  # fmt: skip


def test_odd_names_and_bad_cameras_do_not_break_the_shot_page(tmp_path: Path):
    shot = make_shot(tmp_path / "sh050", passes=("plate", "roto", "camera"))
    (shot / "roto" / "person").rename(shot / "roto" / "<!--x")
    (shot / "camera" / "cameras.json").write_text('{"schema": "something else"}')
    http = client(tmp_path)
    page = http.get("/shot/0/sh050")
    assert page.status_code == 200
    data = json.loads(re.search(r'id="shot-data">(.+?)</script>', page.text).group(1))
    assert "roto:<!--x" in data["layers"]  # escaped in the page, intact once parsed
    assert "<!--x" not in re.search(r'id="shot-data">(.+?)</script>', page.text).group(1)
    assert "not a vfx-ingest.cameras/1 document" in page.text
    assert http.get("/shot/0/sh050", params={"every": 0}).status_code == 422
