"""A queue's `twin` section: the simulator workload that the bench-only `twin` provider and
runner stand for (`bench/twin.py` writes it; no deployment uses it).

Every process that reads it regenerates the same workload (same scenario, windows and seed), so
a change URI `fake://twin.example/c<i>` means the same change in each of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from sq.service.settings_types import Section


class TwinConfig(Section):
    scenario: Literal["small", "paper"] = Field(
        description="small: 20 changes/h, 10-minute builds; paper: 500/h, 30-minute builds"
    )
    failure_probability: float = Field(ge=0.0, le=1.0)
    seed: int = 1
    warmup_hours: float = Field(ge=0.0)
    window_hours: float = Field(gt=0.0)
    tail_hours: float = Field(ge=0.0)
    factor: float = Field(gt=0.0, description="A build lasts its workload time / factor")
    journal: Path | None = Field(
        default=None, description="The runner appends one JSON line per build start and end"
    )
