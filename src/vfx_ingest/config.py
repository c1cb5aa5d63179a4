"""Configuration: defaults < user config file < project file < environment < command line.

- user config: ``<platformdirs user config dir>/config.toml`` (``VFX_INGEST_CONFIG`` points
  elsewhere), per user, may hold secrets;
- project file: ``vfx-ingest.toml`` in the current folder or its nearest parent that has
  one, meant to be committed with a show, so it must never hold secrets;
- environment: ``VFX_INGEST_<KEY>``, nested with ``__`` (``VFX_INGEST_RUNPOD__API_KEY``);
  ``RUNPOD_API_KEY`` is honoured too, as RunPod's own tools do;
- command-line options, passed to :func:`load_settings` as overrides.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .errors import BadInput

APP_NAME = "vfx-ingest"
PROJECT_FILE = "vfx-ingest.toml"
ENV_PREFIX = "VFX_INGEST_"

Device = Literal["auto", "cpu", "cuda"]


class Section(BaseModel):
    """A ``[section]`` of the settings: a misspelt key is an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid")


def user_config_path() -> Path:
    if override := os.environ.get(f"{ENV_PREFIX}CONFIG"):
        return Path(override).expanduser()
    from platformdirs import user_config_path as _user_config_path

    return _user_config_path(APP_NAME) / "config.toml"


def default_models_dir() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path(APP_NAME) / "models"


def default_history_db() -> Path:
    from platformdirs import user_data_path

    return user_data_path(APP_NAME) / "history.sqlite"


def find_project_file(start: Path | None = None) -> Path | None:
    """The nearest ``vfx-ingest.toml`` in ``start`` or its parents (like ruff and git do)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    return None


class RunpodSettings(Section):
    api_key: SecretStr | None = Field(None, description="RunPod API key (secret).")
    endpoint_id: str | None = Field(None, description="Serverless endpoint to run jobs on.")
    api_url: str = Field("https://api.runpod.ai/v2", description="Serverless REST base URL.")
    rest_url: str = Field(
        "https://rest.runpod.io/v1", description="RunPod REST API for templates and endpoints."
    )
    image: str | None = Field(None, description="Worker image to build and push, with its tag.")
    gpu_types: list[str] = Field(
        default_factory=lambda: ["NVIDIA GeForce RTX 4090", "NVIDIA RTX A5000"],
        description="GPU types the endpoint may use, in order of preference.",
    )
    network_volume_id: str | None = Field(None, description="Network volume for the endpoint.")
    name: str = Field("vfx-ingest", description="Endpoint name (the template adds -worker).")
    workers_max: int = Field(3, ge=1, description="Most workers the endpoint runs at once.")
    idle_timeout_s: int = Field(5, ge=1, description="Seconds an idle worker stays up.")
    execution_timeout_s: int = Field(
        3600, ge=10, description="RunPod stops a job running longer than this."
    )
    job_timeout_s: float = Field(
        7200, gt=0, description="The client cancels a job not finished after this (queue too)."
    )
    poll_interval_s: float = Field(1.0, gt=0, description="Seconds between status polls.")


class S3Settings(Section):
    bucket: str | None = Field(None, description="Bucket for uploads and results.")
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint (R2, MinIO...).")
    region: str | None = Field(None, description="Region name.")
    prefix: str = Field("vfx-ingest/", description="Key prefix for everything we store.")
    access_key_id: SecretStr | None = Field(None, description="Access key id (secret).")
    secret_access_key: SecretStr | None = Field(None, description="Secret access key (secret).")
    access: Literal["auto", "presigned", "volume"] = Field(
        "auto",
        description="How workers reach objects: presigned URLs, or files on a mounted volume "
        "(auto: volume for RunPod's S3 API, which has no presigned URLs).",
    )
    multipart_chunk_mb: int = Field(
        64, ge=5, le=500, description="Part size of multipart transfers (MB)."
    )
    url_ttl_s: int = Field(
        3600, ge=60, le=604800, description="Expiry of presigned URLs handed to workers."
    )


class CostSettings(Section):
    history_db: Path = Field(
        default_factory=default_history_db,
        description="SQLite record of your runs, which calibrates estimates.",
    )
    runpod_catalog_url: str = Field(
        "https://api.runpod.io/v2/catalog/gpus",
        description="RunPod's GPU catalog with prices, read by `cost --refresh`.",
    )
    runpod_serverless_offer: Literal["flex", "active"] = Field(
        "flex", description="RunPod serverless workers to price: flex or active."
    )
    modal_cpu_cores: float = Field(
        0.125,
        gt=0,
        description="CPU cores a Modal worker requests (Modal's default); "
        "priced here and requested by the deployed app.",
    )
    modal_memory_gib: float = Field(
        0.125,
        gt=0,
        description="Memory in GiB a Modal worker requests (Modal's default); "
        "priced here and requested by the deployed app.",
    )
    modal_region: Literal["none", "broad", "narrow"] = Field(
        "none", description="Modal region pinning, which multiplies its prices."
    )
    modal_nonpreemptible: bool = Field(
        False,
        description="Modal non-preemptible functions (3x CPU and memory); priced here "
        "and requested by the deployed app.",
    )
    uplink_mbps: float = Field(100.0, gt=0, description="Your upload speed in Mbit/s.")
    downlink_mbps: float = Field(100.0, gt=0, description="Your download speed in Mbit/s.")
    stale_after_days: int = Field(
        60, ge=1, description="Warn when the prices used are older than this."
    )


# What Modal accepts as an app or volume name.
MODAL_NAME = r"^[A-Za-z0-9._-]{1,63}$"


class ModalSettings(Section):
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


class Settings(BaseSettings):
    """Everything a user can configure. Field descriptions feed ``config show``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    shots_dir: Path = Field(
        Path(), description="Where `run` creates <clip name>/ when --shot is not given."
    )
    stages: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["ingest"], description="Stages `run` runs by default."
    )
    backend: str = Field("local", description="Backend `run` uses by default.")
    device: Device = Field("auto", description="Local device: auto, cpu or cuda.")
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-stage parameter defaults, e.g. [params.ingest] first_frame = 1.",
    )
    models_dir: Path = Field(
        default_factory=default_models_dir,
        description="Model weights from non-Hub sources, and manual models.",
    )
    hf_cache: Path | None = Field(
        None,
        description="Hub cache for hf:// models (default: huggingface_hub's, from HF_HOME).",
    )
    models_registry: Path | None = Field(
        None, description="Extra model registry TOML (in-house models), merged by id."
    )
    max_workers: int = Field(
        4, ge=1, description="Concurrent remote jobs when a chunkable stage fans out."
    )
    runpod: RunpodSettings = Field(default_factory=RunpodSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    cost: CostSettings = Field(default_factory=CostSettings)
    modal: ModalSettings = Field(default_factory=ModalSettings)

    @field_validator("stages", mode="before")
    @classmethod
    def _split_stages(cls, value: Any) -> Any:
        # Comma lists from the environment or the command line: "ingest,depth".
        if isinstance(value, str):
            return [s.strip() for s in value.split(",") if s.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return tuple(source for _, source in _sources(settings_cls, init_settings, env_settings))


class _RunpodKeySource(PydanticBaseSettingsSource):
    """``RUNPOD_API_KEY``, the variable RunPod's SDK and CLI read."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        key = os.environ.get("RUNPOD_API_KEY")
        return {"runpod": {"api_key": key}} if key else {}


# Secrets may come from the environment or the user file, never from a project file.
SECRET_KEYS = ("runpod.api_key", "s3.access_key_id", "s3.secret_access_key")


def _sources(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
) -> list[tuple[str, PydanticBaseSettingsSource]]:
    """The sources in precedence order, highest first, each with a label for `config show`."""
    project = find_project_file()
    user = user_config_path()
    sources: list[tuple[str, PydanticBaseSettingsSource]] = [
        ("command line", init_settings),
        ("environment", env_settings),
        ("environment (RUNPOD_API_KEY)", _RunpodKeySource(settings_cls)),
    ]
    if project is not None:
        sources.append((str(project), TomlConfigSettingsSource(settings_cls, toml_file=project)))
    if user.is_file():
        sources.append((str(user), TomlConfigSettingsSource(settings_cls, toml_file=user)))
    return sources


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key != "params":
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _check_project_file_has_no_secrets() -> None:
    project = find_project_file()
    if project is None:
        return
    import tomllib

    try:
        data = tomllib.loads(project.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"cannot read config ({exc})", where=str(project)) from exc
    leaked = [key for key in SECRET_KEYS if key in _flatten(data)]
    if leaked:
        raise BadInput(
            f"{', '.join(leaked)} is a secret and may not be in a project file, "
            "which is usually committed",
            where=str(project),
            fix=f"Set it in the environment (VFX_INGEST_RUNPOD__API_KEY, ...) "
            f"or in {user_config_path()}",
        )


def load_settings(**overrides: Any) -> Settings:
    """Settings from every source; ``overrides`` (the command line) win over all others."""
    _check_project_file_has_no_secrets()
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        origin = _origin_of(key, overrides)
        raise BadInput(
            f"invalid setting {key}: {first['msg']}",
            where=origin,
            fix="See `vfx-ingest config show` for the settings and where each comes from",
        ) from exc
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read configuration ({exc})") from exc


def _origin_of(key: str, overrides: dict[str, Any]) -> str:
    for label, values in _source_values(overrides):
        if key in values or any(k.startswith(f"{key}.") for k in values):
            return label
        if key.startswith("params."):  # [params.<stage>] tables are kept whole
            stage, _, field = key.removeprefix("params.").partition(".")
            table = values.get("params", {}).get(stage)
            if isinstance(table, dict) and (not field or field in table):
                return label
    return "defaults"


def check_stage_params(settings: Settings, params: Mapping[str, type[BaseModel]]) -> None:
    """Every ``[params.<stage>]`` names a stage of ``params`` (stage -> its params model)
    and only options that stage has; BadInput naming the file (or variable) otherwise."""
    for stage, values in settings.params.items():
        model = params.get(stage)
        if model is None:
            raise BadInput(
                f"invalid setting params.{stage}: no stage is called {stage!r}",
                where=_origin_of(f"params.{stage}", {}),
                fix=f"Stages: {', '.join(params)}",
            )
        try:
            model.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(["params", stage, *(str(p) for p in first["loc"])])
            raise BadInput(
                f"invalid setting {key}: {first['msg']}",
                where=_origin_of(key, {}),
                fix=f"See `vfx-ingest stages {stage}` for its options",
            ) from exc


def _source_values(overrides: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    from pydantic_settings import EnvSettingsSource, InitSettingsSource

    init = InitSettingsSource(Settings, overrides)
    env = EnvSettingsSource(
        Settings, env_prefix=ENV_PREFIX, env_nested_delimiter="__", env_parse_none_str=None
    )
    out = []
    for label, source in _sources(Settings, init, env):
        try:
            out.append((label, _flatten(source())))
        except (OSError, ValueError):
            continue
    return out


class SettingRow(BaseModel):
    """One line of `config show`."""

    key: str
    value: Any
    source: str
    secret: bool = False
    description: str | None = None


def explain(settings: Settings, **overrides: Any) -> list[SettingRow]:
    """Every effective setting with the source it came from; secrets masked."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    values = _source_values(overrides)
    flat = _flatten(settings.model_dump(mode="python"))
    rows = []
    for key, value in flat.items():
        source = next((label for label, vals in values if key in vals), "default")
        secret = key in SECRET_KEYS
        shown: Any
        if secret:
            shown = "(set)" if value is not None else None
        elif isinstance(value, Path):
            shown = str(value)
        else:
            shown = value
        rows.append(
            SettingRow(
                key=key,
                value=shown,
                source=source,
                secret=secret,
                description=_description(key),
            )
        )
    return rows


def _description(key: str) -> str | None:
    model: type[BaseModel] = Settings
    parts = key.split(".")
    for part in parts[:-1]:
        field = model.model_fields.get(part)
        if field is None or not isinstance(field.annotation, type):
            return None
        model = field.annotation
    field = model.model_fields.get(parts[-1])
    return field.description if field else None


def save_user_values(values: dict[str, Any]) -> Path:
    """Set dotted keys (``{"runpod.endpoint_id": "abc"}``) in the user config file, keeping
    every other key, comment and its layout (tomlkit); written atomically."""
    import tomlkit

    from . import atomic

    path = user_config_path()
    try:
        document = tomlkit.parse(path.read_text()) if path.is_file() else tomlkit.document()
    except (OSError, ValueError) as exc:
        raise BadInput(f"cannot read config ({exc})", where=str(path)) from exc
    for dotted, value in values.items():
        *tables, leaf = dotted.split(".")
        table: Any = document
        for name in tables:
            if name not in table:
                table[name] = tomlkit.table()
            table = table[name]
        table[leaf] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, tomlkit.dumps(document), fsync=True)
    return path
