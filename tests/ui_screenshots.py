"""Make the dashboard screenshots in docs/images/ (not a test; run by hand).

    PYTHONPATH=src python tests/ui_screenshots.py [--out docs/images]

A served dashboard over a temporary root: the bundled clip ingested through the CLI, with
a depth pass rendered from the example's ground truth (the synthetic renderer's depth for
the clip's own cameras, written with the project's EXR writer) and its cameras.json; the
run page is caught while a second copy of the clip is being ingested.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from test_ui_browser import ARGS, CHROMIUM
from vfx_ingest.camera.cameras_json import CamerasDoc
from vfx_ingest.depth.exr import VALUES_ATTR, depth_name, write_depth
from vfx_ingest.ui.runs import cli_command

from conftest import EXAMPLES, REPO
from support.synthetic import Intrinsics, clip_scene, render_frames
from support.ui_shots import EXAMPLE_CAMERAS, Served

DEPTH_FRAMES = 24


def prepare(root: Path) -> None:
    clip = root / "courtyard.mp4"
    shutil.copyfile(EXAMPLES / "courtyard.mp4", clip)
    shutil.copyfile(clip, root / "courtyard_v2.mp4")
    shot = root / "courtyard"
    command = cli_command(["run", str(clip), "--shot", str(shot), "--stages", "ingest", "-q"])
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    doc = CamerasDoc.load(EXAMPLE_CAMERAS)
    k = doc.intrinsics
    intr = Intrinsics.from_focal(doc.image.width, doc.image.height, k.focal_mm, k.sensor_width_mm)
    poses = doc.c2w()[:DEPTH_FRAMES]
    (shot / "depth").mkdir()
    for number, (_, depth) in zip(
        doc.frame_numbers(),
        render_frames(clip_scene(intr), poses, intr, supersample=1),
        strict=False,
    ):
        write_depth(
            shot / "depth" / depth_name(number),
            depth.astype(np.float32),
            {VALUES_ATTR: "metric_depth_m"},
        )
    (shot / "camera").mkdir()
    shutil.copyfile(EXAMPLE_CAMERAS, shot / "camera" / "cameras.json")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "shots"
        root.mkdir()
        prepare(root)
        with Served([root]) as served, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1000, "height": 720})
            page.goto(f"{served.url}/?token={served.token}")
            page.wait_for_function("() => [...document.images].every(i => i.naturalWidth > 0)")
            page.screenshot(path=str(out / "ui-shots.png"))
            page.goto(f"{served.url}/shot/0/courtyard")
            page.select_option("#layer-a", "depth")
            page.fill("#scrub", "12")
            page.wait_for_function("() => document.getElementById('depth-range').textContent")
            page.wait_for_function(
                "() => { const i = document.getElementById('frame-a');"
                " return i.complete && i.src.includes('layer=depth') && i.naturalWidth > 0; }"
            )
            page.screenshot(path=str(out / "ui-shot-depth.png"), full_page=True)
            page.goto(f"{served.url}/run")
            page.fill("#clip", str(root / "courtyard_v2.mp4"))
            page.click("#start")
            page.wait_for_function(
                "() => { const p = document.getElementById('progress');"
                " return p.value > 0.3 && p.value < 0.9; }",
                polling=50,
            )
            page.screenshot(path=str(out / "ui-run.png"))
            browser.close()


if __name__ == "__main__":
    main()
