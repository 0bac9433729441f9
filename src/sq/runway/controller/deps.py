"""What runway needs per queue: the merger and where the queue's target lives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sq.runway.extension.merger import Merger, Strategy


@dataclass(frozen=True, slots=True, kw_only=True)
class RunwayTarget:
    merger: Merger
    repository: str = ""
    target_ref: str = "refs/heads/main"
    strategy: Strategy = Strategy.REBASE
    update_head_branches: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RunwayDeps:
    targets: Callable[[str], RunwayTarget]
    """Raises `sq.platform.errs.UserError` for a queue runway does not serve."""
