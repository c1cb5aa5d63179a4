"""Roto prompts: the command-line forms and the prompts file become one structure, checked
against the plate; the planner's settle step reuses a shot's prompts when none are given.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vfx_ingest.errors import BadInput
from vfx_ingest.io.images import encode_png
from vfx_ingest.manifest import SourceProbe
from vfx_ingest.roto.prompts import PNG_DATA, RotoPrompts, load_prompts_file, prompts_from_options
from vfx_ingest.stages.base import PlanView
from vfx_ingest.stages.roto import RotoParams, settle


def test_clicks_and_boxes_become_one_object_with_frames_in_order() -> None:
    prompts = prompts_from_options(
        points="1040:700,300;1001:640,360;1001:10,20,0", boxes="1001:5,5,90,90", label="hero"
    )
    assert [o.label for o in prompts.objects] == ["hero"]
    first, later = prompts.prompts
    assert (first.frame, first.points, first.negative, first.box) == (
        1001, [(640, 360)], [(10, 20)], (5, 5, 90, 90),
    )  # fmt: skip
    assert later.frame == 1040 and prompts.frames() == [1001, 1040]
    assert not prompts.is_text() and prompts.first_frame("hero") == 1001


def test_text_prompts_give_one_object_per_concept() -> None:
    prompts = prompts_from_options(prompt="person, red car,person")
    assert [(o.label, o.text) for o in prompts.objects] == [
        ("person", "person"), ("red_car", "red car"),
    ]  # fmt: skip
    assert prompts.is_text() and prompts.texts() == ["person", "red car"]


def test_the_file_inlines_masks_and_its_json_is_canonical(tmp_path: Path) -> None:
    mask = np.zeros((30, 40), np.uint8)
    mask[5:10, 5:10] = 255
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "car.png").write_bytes(encode_png(mask))
    document = {
        "prompts": [
            {"label": "car", "frame": 3, "mask": "masks/car.png"},
            {"frame": 1, "label": "hero", "points": [[1, 2]]},
        ],
        "objects": [{"label": "hero"}, {"label": "car"}],
    }
    file = tmp_path / "prompts.json"
    file.write_text(json.dumps(document, indent=4))
    canonical = load_prompts_file(file)
    prompts = RotoPrompts.model_validate_json(canonical)
    assert prompts.prompts[0].mask.startswith(PNG_DATA)
    assert np.array_equal(prompts.prompts[0].mask_image(), mask > 0)
    assert prompts.canonical() == canonical  # one spelling, whatever the file's layout
    prompts.check_plate([1, 2, 3], 40, 30)
    with pytest.raises(BadInput, match="is 40x30, the plate 64x48"):
        prompts.check_plate([1, 2, 3], 64, 48)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"objects": []}, "objects"),
        ({"objects": [{"label": "a b"}]}, "label"),
        ({"objects": [{"label": "a"}, {"label": "a"}]}, "labels repeat"),
        ({"objects": [{"label": "a"}]}, "object a has no prompt"),
        ({"objects": [{"label": "a"}], "prompts": [{"label": "a", "frame": 1}]}, "give points"),
        (
            {"objects": [{"label": "a", "text": "a"}, {"label": "b"}]},
            "text and click objects need different models",
        ),
    ],
)
def test_bad_files_are_one_line_naming_the_file(tmp_path, document, message) -> None:
    file = tmp_path / "prompts.json"
    file.write_text(json.dumps(document))
    with pytest.raises(BadInput, match=message) as caught:
        load_prompts_file(file)
    assert caught.value.where == str(file) and "\n" not in caught.value.line()


def test_label_alone_is_refused() -> None:
    with pytest.raises(BadInput, match="--label names the object"):
        prompts_from_options(label="hero")


def view(tmp_path: Path, previous: dict | None = None) -> PlanView:
    probe = SourceProbe.model_construct()
    return PlanView(shot_root=tmp_path, previous=previous, probe=probe)


def test_settle_reuses_the_last_pass_with_options_given_now_on_top(tmp_path) -> None:
    made = settle(RotoParams(points="1001:4,4", label="hero", threshold=0.7), view(tmp_path))
    assert made.model == "sam2.1-hiera-base-plus"
    previous = made.model_dump(mode="json")
    assert settle(RotoParams(), view(tmp_path, previous)) == made
    grown = settle(RotoParams(grow=3), view(tmp_path, previous))
    assert (grown.points, grown.threshold, grown.grow) == ("1001:4,4", 0.7, 3)
    # New prompts replace the old ones.
    text = settle(RotoParams(prompt="person"), view(tmp_path, previous))
    assert (text.points, text.model) == (None, "sam3")


def test_settle_falls_back_to_the_shots_prompts_file_then_refuses(tmp_path) -> None:
    with pytest.raises(BadInput, match="--stages roto,matte --prompt person"):
        settle(RotoParams(), view(tmp_path))
    (tmp_path / "roto").mkdir()
    (tmp_path / "roto" / "prompts.json").write_text(
        json.dumps({"objects": [{"label": "car", "text": "car"}]})
    )
    settled = settle(RotoParams(), view(tmp_path))
    assert settled.model == "sam3"
    assert json.loads(settled.prompts) == {"objects": [{"label": "car", "text": "car"}]}


def test_the_registry_lists_the_roto_models_in_transformers_format(cli) -> None:
    from vfx_ingest.models.registry import load_registry
    from vfx_ingest.roto.models import MODEL_IDS

    registry = load_registry()
    roto = {m.id: m for m in registry.models.values() if m.stage == "roto"}
    assert set(roto) == set(MODEL_IDS)
    for entry in roto.values():
        files = [f.path for f in entry.files]
        assert files[:3] == ["config.json", "model.safetensors", "processor_config.json"]
        assert not any(f.endswith(".pt") for f in files)
    assert [f.path for f in roto["sam3"].files][3:] == ["tokenizer.json"]
    listed = {m["id"]: m for m in cli.json_lines(cli("models", "list", "--json").stdout)}
    sam3 = listed["sam3"]
    assert (sam3["license"], sam3["commercial"], sam3["gated"]) == ("SAM License", True, True)
    assert listed["sam2.1-hiera-base-plus"]["license"] == "Apache-2.0"
