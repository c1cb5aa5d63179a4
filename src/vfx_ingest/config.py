"""Configuration: defaults < user config file < project file < environment < command line.

- user config: ``<platformdirs user config dir>/config.toml`` (``VFX_INGEST_CONFIG`` points
  elsewhere), per user, may hold secrets;
- project file: ``vfx-ingest.toml`` in the current folder or its nearest parent that has
  one, meant to be committed with a show, so it must never hold secrets;
- environment: ``VFX_INGEST_<KEY>``, nested with ``__`` (``VFX_INGEST_S3__BUCKET``), and
  the other tools' variables a backend declares (``BackendSpec.env_aliases``);
- command-line options, passed to :func:`load_settings` as overrides.
"""

from __future__ import annotations

import os
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .errors import BadInput
from .paths import find_project_file

APP_NAME = "vfx-ingest"
ENV_PREFIX = "VFX_INGEST_"

Device = Literal["auto", "cpu", "cuda"]


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


class S3Settings(BaseModel):
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


class CostSettings(BaseModel):
    history_db: Path = Field(
        default_factory=default_history_db,
        description="SQLite record of your runs, which calibrates estimates.",
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


class CoreSettings(BaseSettings):
    """Everything a user can configure but the backends' sections, which the registry adds
    (:data:`Settings`). Field descriptions feed ``config show``."""

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
    s3: S3Settings = Field(default_factory=S3Settings)
    cost: CostSettings = Field(default_factory=CostSettings)

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


def _composed() -> type[CoreSettings]:
    """``CoreSettings`` plus one section per backend settings model (``runpod``, ``modal``),
    as the backend registry declares them."""
    from pydantic import create_model

    from .backends import settings_sections

    sections: dict[str, Any] = {
        key: (model, Field(default_factory=model)) for key, model in settings_sections().items()
    }
    return create_model(  # type: ignore[call-overload,no-any-return]
        "Settings", __base__=CoreSettings, __module__=__name__, **sections
    )


Settings = _composed()


class _AliasSource(PydanticBaseSettingsSource):
    """Other tools' variables a backend honours (``RUNPOD_API_KEY``, as RunPod's SDK)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        from .backends import env_aliases

        found: dict[str, Any] = {}
        for name, (section, key) in env_aliases().items():
            if value := os.environ.get(name):
                found.setdefault(section, {})[key] = value
        return found


def _secret_keys() -> tuple[str, ...]:
    """Dotted keys of every secret (``SecretStr``) field: shown masked, and refused in a
    project file."""
    keys = []
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            for key, inner in model.model_fields.items():
                if SecretStr in (inner.annotation, *typing.get_args(inner.annotation)):
                    keys.append(f"{name}.{key}")
    return tuple(keys)


# Secrets may come from the environment or the user file, never from a project file.
SECRET_KEYS = _secret_keys()


def _alias_label() -> str:
    from .backends import env_aliases

    return f"environment ({', '.join(env_aliases()) or 'aliases'})"


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
        (_alias_label(), _AliasSource(settings_cls)),
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
            fix=f"Set it in the environment ({ENV_PREFIX}{leaked[0].upper().replace('.', '__')}"
            f", ...) or in {user_config_path()}",
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
    return "defaults"


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
