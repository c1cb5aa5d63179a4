"""The dashboard in a real browser: Debian's chromium, headless, driven by playwright.

Never a downloaded browser: playwright drives ``/usr/bin/chromium`` (`.ci/run` installs it
with apt-get). Without it these tests fail, saying so. A failing test saves a screenshot
of its page under ``test-artifacts/ui/``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import EXAMPLES, REPO, encode_clip
from support.ui_shots import Served, make_shot, session_processes

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts" / "ui"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Debian's chromium is missing ({CHROMIUM}): the UI tests need a real browser. "
            "Install it with `apt-get install -y chromium` (.ci/run does)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ui") / "shots"
    make_shot(folder / "sh010")
    shutil.copyfile(EXAMPLES / "courtyard.mp4", folder / "courtyard.mp4")
    # Long enough (20 s) that a cancel lands mid-stage on a fast machine too.
    encode_clip(folder / "long.mp4", frames=480, width=320, height=240)
    return folder


@pytest.fixture(scope="module")
def served(root: Path) -> Iterator[Served]:
    with Served([root]) as server:
        yield server


@pytest.fixture
def page(browser, served: Served, request: pytest.FixtureRequest) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    # Script errors and Content-Security-Policy violations show up as console errors.
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{served.url}/?token={served.token}")  # the cookie, for the pages after
    failed = request.session.testsfailed
    yield page
    if request.session.testsfailed > failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert errors == [], "the page logged errors"


def frame_pixels(page) -> bytes:
    return page.locator("#frame-a").screenshot()


def test_a_run_started_from_the_page_reaches_done_and_shows_its_thumbnail(page, served, root):
    page.goto(f"{served.url}/run")
    page.fill("#clip", str(root / "courtyard.mp4"))
    page.click("#start")
    page.wait_for_function("() => document.getElementById('run-status').textContent === 'done'")
    assert page.eval_on_selector("#progress", "p => p.value === p.max")
    assert "ingest" in page.text_content("#run-stage")
    page.click("#start")  # again: the stage is cached this time
    page.wait_for_function(
        "() => document.getElementById('run-stage').textContent.endsWith('cached')"
    )
    page.wait_for_function("() => document.getElementById('run-status').textContent === 'done'")
    page.goto(f"{served.url}/")  # the shots page now has the bundled example
    thumb = page.locator('tr[data-shot="0/courtyard"] img.thumb')
    thumb.wait_for()
    page.wait_for_function(
        "() => document.querySelector('tr[data-shot=\"0/courtyard\"] img.thumb').naturalWidth > 0"
    )
    assert thumb.evaluate("img => img.naturalWidth") == 192
    assert "ingest: cached" in page.text_content('tr[data-shot="0/courtyard"]')


def test_the_flipbook_plays_and_scrubbing_changes_the_frame(page, served):
    page.goto(f"{served.url}/shot/0/sh010")
    page.wait_for_function("() => document.getElementById('frame-a').naturalWidth > 0")
    assert page.text_content("#frame-number") == "1001"
    first = frame_pixels(page)
    page.click("#play")
    page.wait_for_function("() => document.getElementById('frame-number').textContent !== '1001'")
    page.click("#play")  # pause
    page.fill("#scrub", "7")
    assert page.text_content("#frame-number") == "1008"
    page.wait_for_function(
        "() => { const i = document.getElementById('frame-a');"
        " return i.complete && i.naturalWidth > 0 && i.src.endsWith('frame=1008'); }"
    )
    assert frame_pixels(page) != first


def test_the_depth_pass_switch_shows_a_different_image_and_its_range(page, served):
    page.goto(f"{served.url}/shot/0/sh010")
    page.wait_for_function("() => document.getElementById('frame-a').naturalWidth > 0")
    plate = frame_pixels(page)
    page.select_option("#layer-a", "depth")
    page.wait_for_function(
        "() => { const i = document.getElementById('frame-a');"
        " return i.complete && i.naturalWidth > 0 && i.src.includes('layer=depth'); }"
    )
    assert frame_pixels(page) != plate
    page.wait_for_function("() => document.getElementById('depth-range').textContent !== ''")
    assert page.text_content("#depth-range").startswith("disparity 0.1")
    page.select_option("#layer-b", "plate")  # wipe the plate over the depth
    page.fill("#wipe", "30")
    assert page.is_visible("#frame-b") and "layer=plate" in page.get_attribute("#frame-b", "src")
    assert page.locator("#frame-b").evaluate("i => i.style.clipPath") == "inset(0px 0px 0px 30%)"


def test_cancel_stops_the_run_with_130_and_leaves_no_process(page, served, root):
    page.goto(f"{served.url}/run")
    page.fill("#clip", str(root / "long.mp4"))
    with page.expect_response("**/api/runs") as answer:
        page.click("#start")
    started = answer.value.json()
    page.wait_for_function(
        "() => document.getElementById('run-stage').textContent.includes('ingest')"
    )
    page.click("#cancel")
    page.wait_for_function(
        "() => document.getElementById('run-status').textContent === 'cancelled'"
    )
    status = page.request.get(f"{served.url}/api/runs/{started['id']}").json()
    assert status["exit_code"] == 130 and status["state"] == "cancelled"
    assert session_processes(started["pid"]) == []
    record = json.loads((root / "long" / "shot.json").read_text())["stages"]["ingest"]
    assert record["status"] != "done"  # nothing half-made looks complete


def test_the_camera_view_draws_a_frustum_per_sampled_frame(page, served, root):
    cameras = json.loads((root / "sh010" / "camera" / "cameras.json").read_text())["frames"]
    for every in (4, 10):
        page.goto(f"{served.url}/shot/0/sh010?every={every}")
        expected = [str(f["frame"]) for f in cameras[::every]]
        for view in ("top", "side"):
            markers = page.locator(f'svg[data-view="{view}"] polygon.frustum')
            assert markers.count() == len(expected)
            assert markers.evaluate_all("ms => ms.map(m => m.dataset.frame)") == expected
            box = page.locator(f'svg[data-view="{view}"]').bounding_box()
            assert box["width"] == 320  # drawn, not hidden


def test_the_resources_page_cleans_up_through_the_cli(page, served, s3):
    from vfx_ingest.backends import with_hook

    name = with_hook("cleanup")[0].name
    s3.client.put_object(Bucket=s3.bucket, Key="vfx-ingest/objects/cd/old", Body=b"x" * 10)
    page.goto(f"{served.url}/resources")
    section = page.locator(f'section[data-backend="{name}"]')
    section.locator(".older-than").fill("0s")
    section.locator("button.cleanup").click()  # the dry run is ticked by default
    result = section.locator(".cleanup-result")
    result.filter(has_text="would remove").wait_for()
    assert result.text_content().startswith("would remove 1 objects (0.0 MB) from s3://")
    assert s3.object_keys() == ["vfx-ingest/objects/cd/old"]
