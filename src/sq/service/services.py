"""Imports each service's wiring module, so that each registers its builder."""

from __future__ import annotations

import sq.service.stovepipe  # noqa: F401
from sq.service import (
    gateway,  # noqa: F401
    orchestrator,  # noqa: F401
    runway,  # noqa: F401
)
