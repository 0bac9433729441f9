"""Reading the JSON snapshot `sq speculate plan` takes, with one-line errors for bad input."""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sq.submitqueue.entity.batch import Batch, BatchID, BatchState
from sq.submitqueue.entity.path import Assumption, PathDependency, PathID, SpeculationPath
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus
from sq.submitqueue.entity.snapshot import SpeculationSnapshot

DEFAULT_PROBABILITY = 0.95
MAX_INVERTIBLE_DEPENDENCIES = 16
"""Beyond this many dependencies a path must name its assumptions: its id is not inverted."""


class PlanInputError(ValueError):
    """The snapshot given to `plan` is malformed; the message is one line."""


class SpeculatorChoice(enum.StrEnum):
    STANDARD = "standard"
    VALUE = "value"


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeculatorTuning:
    """Which Speculator a plan asks, and the value speculator's knobs (None: its defaults)."""

    speculator: SpeculatorChoice = SpeculatorChoice.STANDARD
    threshold: float | None = None
    hysteresis: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanInput:
    snapshot: SpeculationSnapshot
    budget: int
    default_probability: float
    probabilities: Mapping[BatchID, float | None]
    tuning: SpeculatorTuning = SpeculatorTuning()


def _field(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise PlanInputError(f"{where}: missing field {key!r}")
    return obj[key]


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PlanInputError(f"{where}: expected an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise PlanInputError(f"{where}: expected a list")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PlanInputError(f"{where}: expected a non-empty string")
    return value


def _probability(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanInputError(f"{where}: expected a number")
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise PlanInputError(f"{where}: probability {value!r} is outside [0, 1]")
    return float(value)


def parse_plan_input(raw: Any) -> PlanInput:
    top = _obj(raw, "input")
    budget = _field(top, "budget", "input")
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise PlanInputError("budget: expected an integer")
    if budget < 0:
        raise PlanInputError(f"budget: must not be negative, got {budget}")
    default = DEFAULT_PROBABILITY
    if top.get("default_probability") is not None:
        default = _probability(top["default_probability"], "default_probability")
    batches, probabilities = _batches(_list(_field(top, "batches", "input"), "batches"))
    by_id = {b.id: b for b in batches}
    path_sets = _path_sets(_list(top.get("path_sets", []), "path_sets"), by_id)
    snapshot = SpeculationSnapshot(batches=tuple(batches), path_sets=path_sets)
    return PlanInput(
        snapshot=snapshot,
        budget=budget,
        default_probability=default,
        probabilities=probabilities,
        tuning=_tuning(top),
    )


def _tuning(top: Mapping[str, Any]) -> SpeculatorTuning:
    raw = top.get("speculator", SpeculatorChoice.STANDARD.value)
    try:
        speculator = SpeculatorChoice(raw)
    except ValueError:
        raise PlanInputError(f"speculator: expected 'standard' or 'value', got {raw!r}") from None
    knobs: dict[str, float | None] = {}
    for key, low in (("speculation_threshold", 0.0), ("speculation_hysteresis", 1.0)):
        value = top.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PlanInputError(f"{key}: expected a number")
            if not (math.isfinite(value) and value >= low):
                raise PlanInputError(f"{key}: must be at least {low:g}, got {value!r}")
            if speculator is not SpeculatorChoice.VALUE:
                raise PlanInputError(f"{key}: applies only to speculator 'value'")
        knobs[key] = None if value is None else float(value)
    return SpeculatorTuning(
        speculator=speculator,
        threshold=knobs["speculation_threshold"],
        hysteresis=knobs["speculation_hysteresis"],
    )


def _batches(raw: list[Any]) -> tuple[list[Batch], dict[BatchID, float | None]]:
    batches: list[Batch] = []
    probabilities: dict[BatchID, float | None] = {}
    for i, item in enumerate(raw):
        where = f"batches[{i}]"
        obj = _obj(item, where)
        batch_id = BatchID(_str(_field(obj, "id", where), f"{where}.id"))
        if batch_id in probabilities:
            raise PlanInputError(f"{where}: duplicate batch id {batch_id!r}")
        state_text = _str(_field(obj, "state", where), f"{where}.state")
        try:
            state = BatchState(state_text)
        except ValueError:
            raise PlanInputError(f"{where}: unknown state {state_text!r}") from None
        deps = [_str(d, f"{where}.deps") for d in _list(obj.get("deps", []), f"{where}.deps")]
        if len(set(deps)) != len(deps) or batch_id in deps:
            raise PlanInputError(f"{where}: deps must be distinct and must not name the batch")
        p = obj.get("probability")
        probabilities[batch_id] = None if p is None else _probability(p, f"{where}.probability")
        batches.append(
            Batch(
                id=batch_id,
                queue=batch_id.rsplit("/batch/", 1)[0],
                dependencies=tuple(BatchID(d) for d in deps),
                state=state,
            )
        )
    for batch in batches:
        for dep in batch.dependencies:
            if dep not in probabilities:
                raise PlanInputError(f"batch {batch.id}: unknown dependency {dep!r}")
    return batches, probabilities


def _path_sets(raw: list[Any], by_id: Mapping[BatchID, Batch]) -> tuple[PathSet, ...]:
    sets: dict[BatchID, PathSet] = {}
    for i, item in enumerate(raw):
        where = f"path_sets[{i}]"
        obj = _obj(item, where)
        head_id = BatchID(_str(_field(obj, "head", where), f"{where}.head"))
        head = by_id.get(head_id)
        if head is None:
            raise PlanInputError(f"{where}: unknown head {head_id!r}")
        if head_id in sets:
            raise PlanInputError(f"{where}: duplicate path set for {head_id!r}")
        entries: dict[PathID, PathEntry] = {}
        for j, path_item in enumerate(_list(_field(obj, "paths", where), f"{where}.paths")):
            entry = _entry(_obj(path_item, f"{where}.paths[{j}]"), head, f"{where}.paths[{j}]")
            if entry.id in entries:
                raise PlanInputError(f"{where}.paths[{j}]: duplicate path id")
            entries[entry.id] = entry
        sets[head_id] = PathSet(
            queue=head.queue, head=head_id, paths=tuple(entries.values()), version=1
        )
    return tuple(sets.values())


def _entry(obj: Mapping[str, Any], head: Batch, where: str) -> PathEntry:
    path_id = PathID(_str(_field(obj, "id", where), f"{where}.id"))
    status_text = _str(_field(obj, "status", where), f"{where}.status")
    try:
        status = PathStatus(status_text)
    except ValueError:
        raise PlanInputError(f"{where}: unknown status {status_text!r}") from None
    if obj.get("assumptions") is not None:
        path = _path_from_assumptions(obj["assumptions"], head, where)
        if path.id != path_id:
            raise PlanInputError(f"{where}: id does not match the assumptions given")
    else:
        path = _invert(path_id, head, where)
    return PathEntry(id=path_id, path=path, status=status)


def _path_from_assumptions(raw: Any, head: Batch, where: str) -> SpeculationPath:
    given: dict[str, Assumption] = {}
    for pair in _list(raw, f"{where}.assumptions"):
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
        ):
            raise PlanInputError(f"{where}.assumptions: expected [dependency, assumption] pairs")
        if pair[1] not in (Assumption.SUCCEEDS, Assumption.FAILS):
            raise PlanInputError(f"{where}.assumptions: unknown assumption {pair[1]!r}")
        given[pair[0]] = Assumption(pair[1])
    if set(given) != set(head.dependencies) or len(given) != len(raw):
        raise PlanInputError(f"{where}.assumptions: must name each dependency of the head once")
    deps = tuple(PathDependency(batch=d, assumption=given[d]) for d in head.dependencies)
    return SpeculationPath(head=head.id, dependencies=deps)


def _invert(path_id: PathID, head: Batch, where: str) -> SpeculationPath:
    """The path of `head` whose id is `path_id`, found by trying every assumption vector."""
    if len(head.dependencies) > MAX_INVERTIBLE_DEPENDENCIES:
        raise PlanInputError(
            f"{where}: head has more than {MAX_INVERTIBLE_DEPENDENCIES} dependencies; "
            "give the path's assumptions"
        )
    choices = (Assumption.SUCCEEDS, Assumption.FAILS)
    for vector in itertools.product(choices, repeat=len(head.dependencies)):
        deps = tuple(
            PathDependency(batch=d, assumption=a)
            for d, a in zip(head.dependencies, vector, strict=True)
        )
        path = SpeculationPath(head=head.id, dependencies=deps)
        if path.id == path_id:
            return path
    raise PlanInputError(f"{where}: id is not a path of head {head.id!r}")
