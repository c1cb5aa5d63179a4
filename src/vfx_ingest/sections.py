"""The base of every settings section: shared by the core settings and the backends' own
sections (which the configuration composes, so they cannot import it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A ``[section]`` of the settings: a misspelt key is an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid")
