"""Modal's settings (the ``modal`` section) and the options of its commands.

Imported by the configuration and the CLI at start-up: pydantic only.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

# What Modal accepts as an app or volume name.
MODAL_NAME = r"^[A-Za-z0-9._-]{1,63}$"


class ModalSettings(BaseModel):
    """Modal: the deployed app, its volumes and GPUs. The token is Modal's own
    (``modal token new``, or MODAL_TOKEN_ID/MODAL_TOKEN_SECRET); we never read or store it."""

    app_name: str = Field(
        "vfx-ingest", pattern=MODAL_NAME, description="Name of the deployed Modal app."
    )
    environment: str | None = Field(None, description="Modal environment (default: yours).")
    gpu: str | None = Field(
        None, description="GPU for GPU stages, e.g. L40S or H100:2 (default: cheapest that fits)."
    )
    ephemeral: bool = Field(
        False, description="Run in a temporary app (`app.run()`) instead of the deployed one."
    )
    models_volume: str = Field(
        "vfx-models", pattern=MODAL_NAME, description="Volume holding model weights."
    )
    shots_volume: str = Field(
        "vfx-shots", pattern=MODAL_NAME, description="Volume holding the shots' remote copies."
    )
    secrets: list[str] = Field(
        default_factory=list, description="Modal secrets (by name) the workers get."
    )
    timeout_s: int = Field(3600, ge=10, le=86400, description="Longest one stage may run.")
    scaledown_window_s: int = Field(
        60, ge=2, le=1200, description="Seconds an idle worker stays up (and billed)."
    )
    apt_packages: list[str] = Field(
        default_factory=list, description="Extra Debian packages for the worker image."
    )
    poll_interval_s: float = Field(
        0.5, gt=0, description="How often progress and results are polled."
    )


class ModalRunOptions(BaseModel):
    """``run`` options: each sets the ``modal`` setting of the same name for one run."""

    gpu: str | None = Field(
        None, description="GPU type for GPU stages on a remote backend (L4, H100:2...)."
    )
    ephemeral: bool | None = Field(
        None, description="Run in a temporary app (no deploy needed) and stop it."
    )


class ModalDeployOptions(BaseModel):
    """``vfx-ingest deploy modal``."""

    gpu: str | None = Field(
        None, description="GPU for GPU stages, e.g. L40S or H100:2 (modal.gpu)."
    )
    logs: bool = Field(False, description="Show Modal's image build output (on stdout).")
