"""The plate as the depth network wants it: display-referred RGB frames, read on demand.

PNG plates hold the clip's code values (8 or 16 bit) and go in as they are. EXR plates are
scene-linear; the network was trained on display-referred images, so they are converted
with OpenColorIO from their ``colorspace`` attribute to sRGB encoding and clipped to 0..1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BadInput
from ..frames import frame_path

PLATE = "plate"
PLATE_FORMATS = ("png", "exr")
DISPLAY_SPACE = "sRGB Encoded Rec.709 (sRGB)"


@dataclass
class PlateSequence:
    """The plate frames ``numbers`` of ``folder``; a ``FrameSource`` for the estimator."""

    folder: Path
    numbers: list[int]
    ext: str
    height: int = 0
    width: int = 0

    @property
    def count(self) -> int:
        return len(self.numbers)

    def path(self, index: int) -> Path:
        return self.folder / frame_path(PLATE, self.numbers[index], self.ext)

    def read(self, index: int) -> np.ndarray:
        path = self.path(index)
        try:
            return _read_png(path) if self.ext == "png" else _read_exr(path)
        except (OSError, RuntimeError) as exc:  # RuntimeError: imagecodecs, OpenEXR
            raise BadInput(
                f"cannot read plate frame {self.numbers[index]} ({exc})",
                where=str(path),
                fix="Run the ingest stage again (--force)",
            ) from exc

    def load(self, index: int) -> np.ndarray:
        rgb = self.read(index)
        if rgb.shape[:2] != (self.height, self.width):
            raise BadInput(
                f"plate frame {self.numbers[index]} is {rgb.shape[1]}x{rgb.shape[0]}, "
                f"the first frame {self.width}x{self.height}",
                where=str(self.path(index)),
                fix="Run the ingest stage again (--force)",
            )
        return rgb


def open_plates(folder: Path, numbers: list[int], reads: list[int] | None = None) -> PlateSequence:
    """The plate ``numbers``; checks, before any work, that the frames at indices ``reads``
    (default: all; a chunk reads only some) are there, and reads the frame size."""
    indices = list(range(len(numbers))) if reads is None else reads
    if not indices:
        raise BadInput("the plate has no frames", where=str(folder), fix="Run ingest first")
    first = numbers[indices[0]]
    ext = next(
        (e for e in PLATE_FORMATS if (folder / frame_path(PLATE, first, e)).is_file()),
        PLATE_FORMATS[0],  # none there: reported as missing below
    )
    plates = PlateSequence(folder, numbers, ext)
    missing = [numbers[i] for i in indices if not plates.path(i).is_file()]
    if missing:
        raise BadInput(
            f"{len(missing)} plate frame(s) missing, first {missing[0]}",
            where=str(folder),
            fix="Run the ingest stage again (--force)",
        )
    plates.height, plates.width = plates.read(indices[0]).shape[:2]
    return plates


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return image[:, :, :3]  # drop alpha


def _read_png(path: Path) -> np.ndarray:
    from ..io.images import decode_png

    return _rgb(decode_png(path.read_bytes()))


def _read_exr(path: Path) -> np.ndarray:
    from ..io import color
    from ..io.images import read_exr

    channels, header = read_exr(path)
    if "RGB" in channels:
        linear = channels["RGB"]
    elif "Y" in channels:
        linear = _rgb(channels["Y"])
    else:
        raise BadInput(
            f"the EXR plate has no RGB or Y channels (it has {', '.join(channels)})",
            where=str(path),
        )
    space = str(header.get("colorspace") or color.DEFAULT_WORKING_SPACE)
    display = color.convert(linear.astype(np.float32), space, DISPLAY_SPACE)
    return np.clip(display, 0.0, 1.0, out=display)
