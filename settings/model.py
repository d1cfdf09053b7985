"""The base of every settings model, so that all files of a site are checked by the same rule."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are errors: a misspelt key silently ignored is a setting the operator thinks is on."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
