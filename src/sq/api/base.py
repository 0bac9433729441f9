"""The base of every queue payload model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    """Frozen, and tolerant of fields it does not know (written by a newer producer)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
