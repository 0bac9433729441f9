"""Synthetic workloads: when changes arrive, which are good, how long builds take, what conflicts.

Everything random is a pure function of the seed. Per-change facts come from one seeded generator;
the conflicting pairs are drawn once per workload from a generator of their own, and flaky builds
are hashed from the seed and their keys, so every strategy sees the same world and asking in a
different order changes nothing.
"""

from __future__ import annotations

import enum
import hashlib
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
MAX_ARRIVALS = 200_000
"""A workload drawing more changes than this is refused: it would run for hours and fill memory."""

MAX_BAD_RATE = 0.95
"""A change's failure rate is capped so that no author and folder make it certainly bad."""


def _within(what: str, value: float, low: float, high: float, *, open_above: bool = False) -> None:
    above = value >= high if open_above else value > high
    if not math.isfinite(value) or value < low or above:
        bound = f"[{low:g}, {high:g})" if open_above else f"[{low:g}, {high:g}]"
        raise ValueError(f"the {what} must be within {bound}, got {value}")


def unit(seed: int, *key: object) -> float:
    """A uniform number in [0, 1) fixed by `seed` and `key` (stable across runs and platforms)."""
    text = ":".join(str(k) for k in (seed, *key)).encode()
    digest = hashlib.blake2b(text, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class BuildDistribution(enum.StrEnum):
    FIXED = "fixed"
    LOGNORMAL = "lognormal"


class ConflictKind(enum.StrEnum):
    PAIRWISE = "pairwise"  # any two changes conflict with a fixed probability
    FOLDER = "folder"  # changes touch top-level folders; sharing one is a conflict


class FailureModel(enum.StrEnum):
    AUTHOR = "author"  # a change is bad with its author's rate
    AUTHOR_FOLDER = "author-folder"  # its author's rate times its folders' risk


@dataclass(frozen=True, slots=True, kw_only=True)
class ConflictSpec:
    kind: ConflictKind = ConflictKind.PAIRWISE
    probability: float = 0.05  # pairwise: chance that two changes conflict
    folders: int = 40  # folder: how many top-level folders the repository has
    folders_per_change: int = 1  # folder: how many each change touches (popular ones more often)

    def __post_init__(self) -> None:
        if self.kind is ConflictKind.PAIRWISE:
            _within("conflict probability", self.probability, 0.0, 1.0)
        elif self.folders < 1 or not 1 <= self.folders_per_change <= self.folders:
            raise ValueError(
                f"folders must be at least 1 and each change must touch 1 to {self.folders} of"
                f" them, got {self.folders} folders, {self.folders_per_change} per change"
            )

    def label(self) -> str:
        if self.kind is ConflictKind.PAIRWISE:
            return f"q={self.probability:g}"
        return f"folders={self.folders}x{self.folders_per_change}"


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkloadSpec:
    """One synthetic workload. Changes arrive until `window_hours + tail_hours`; the strategies
    are scored on those arriving in `[warmup_hours, window_hours)`, the rest keep the queue loaded
    meanwhile. Then `drain_hours` pass with no arrivals, so that a queue that keeps up finishes
    what it measured instead of leaving it censored."""

    rate_per_hour: float
    build_minutes: float
    failure_probability: float
    conflict: ConflictSpec = field(default_factory=ConflictSpec)
    build_distribution: BuildDistribution = BuildDistribution.FIXED
    build_sigma: float = 0.5  # lognormal shape; the mean stays `build_minutes`
    flaky_rate: float = 0.0
    high_share: float = 0.0  # the share of changes landed with `--priority high`
    authors: int = 50
    author_spread: float = 4.0  # Beta concentration of per-author failure rates; lower spreads more
    failure_model: FailureModel = FailureModel.AUTHOR
    folder_spread: float = 1.0  # Gamma shape of per-folder risk (mean 1); lower spreads more
    warmup_hours: float = 0.5
    window_hours: float = 2.0
    tail_hours: float = 1.5
    drain_hours: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate_per_hour) and self.rate_per_hour > 0):
            raise ValueError(f"the arrival rate must be above 0 per hour, got {self.rate_per_hour}")
        if not (math.isfinite(self.build_minutes) and self.build_minutes > 0):
            raise ValueError(f"the build time must be above 0 minutes, got {self.build_minutes}")
        _within("failure probability", self.failure_probability, 0.0, 1.0)
        _within("flaky rate", self.flaky_rate, 0.0, 1.0, open_above=True)
        _within("high-priority share", self.high_share, 0.0, 1.0)
        for name, hours in (
            ("warm-up", self.warmup_hours),
            ("window", self.window_hours),
            ("tail", self.tail_hours),
            ("drain", self.drain_hours),
        ):
            if not (math.isfinite(hours) and hours >= 0):
                raise ValueError(f"the {name} must be a finite number of hours >= 0, got {hours}")
        if self.window_hours <= self.warmup_hours:
            raise ValueError(
                f"the measured window must end after its warm-up: window {self.window_hours:g} h,"
                f" warm-up {self.warmup_hours:g} h"
            )

        expected = self.rate_per_hour * self.arrivals_hours
        if expected > MAX_ARRIVALS:
            raise ValueError(
                f"{self.rate_per_hour:g} changes an hour over {self.arrivals_hours:g} h is about"
                f" {expected:,.0f} changes; at most {MAX_ARRIVALS:,} are simulated"
            )

    @property
    def arrivals_hours(self) -> float:
        return self.window_hours + self.tail_hours

    @property
    def horizon_hours(self) -> float:
        return self.arrivals_hours + self.drain_hours


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One change as submitted. `good` is the truth every build of it reveals (flakes aside)."""

    index: int
    arrival_ms: int
    good: bool
    build_ms: int
    author: str
    areas: tuple[str, ...]
    lines_changed: int
    high: bool = False
    """Landed in the priority lane (hashed from the seed, so the other draws do not move)."""
    bad_rate: float = 0.0
    """The chance it was drawn bad with (its author's rate, times its folders' risk): what a
    perfect per-author-and-folder model would predict. Only the `ours+rate` ceiling reads it."""

    @property
    def name(self) -> str:
        return f"c{self.index}"

    def files(self) -> tuple[str, ...]:
        return tuple(f"{area}/{self.name}.py" for area in self.areas)


class Workload:
    """The changes of one run and the facts relating them."""

    def __init__(
        self,
        spec: WorkloadSpec,
        seed: int,
        changes: Sequence[Change],
        pairs: Iterable[tuple[int, int]] | None = None,
    ) -> None:
        """`pairs`, when given, are exactly the conflicting pairs (for hand-made cases); otherwise
        the spec's conflict model decides."""
        self.spec = spec
        self.seed = seed
        self.changes = tuple(changes)
        self._pairs = None if pairs is None else list(pairs)
        self._neighbors: list[frozenset[int]] | None = None
        self._by_area: dict[str, frozenset[int]] = {}
        self._cache: dict[int, frozenset[int]] = {}

    @property
    def start_ms(self) -> int:
        return int(self.spec.warmup_hours * HOUR_MS)

    @property
    def end_ms(self) -> int:
        return int(self.spec.window_hours * HOUR_MS)

    @property
    def horizon_ms(self) -> int:
        return int(self.spec.horizon_hours * HOUR_MS)

    def measured(self, change: Change) -> bool:
        return self.start_ms <= change.arrival_ms < self.end_ms

    def conflicts(self, a: int, b: int) -> bool:
        """Whether changes `a` and `b` touch the same thing (symmetric; never a change itself)."""
        return b in self.neighbors(a)

    def neighbors(self, a: int) -> frozenset[int]:
        """Every change that conflicts with `a`. The pairwise model draws every pair on first use
        (about q·n²/2 of them)."""
        if self._neighbors is not None:
            return self._neighbors[a]
        if self._pairs is not None or self.spec.conflict.kind is ConflictKind.PAIRWISE:
            count = len(self.changes)
            pairs = self._pairs
            if pairs is None:
                pairs = _draw_pairs(count, self.spec.conflict.probability, self.seed)
            self._neighbors = _adjacency(count, pairs)
            return self._neighbors[a]
        cached = self._cache.get(a)
        if cached is None:
            if not self._by_area:
                by_area: dict[str, set[int]] = {}
                for change in self.changes:
                    for area in change.areas:
                        by_area.setdefault(area, set()).add(change.index)
                self._by_area = {area: frozenset(v) for area, v in by_area.items()}
            cached = frozenset().union(*(self._by_area[x] for x in self.changes[a].areas)) - {a}
            self._cache[a] = cached
        return cached

    def flaky(self, *key: object) -> bool:
        return self.spec.flaky_rate > 0 and unit(self.seed, "flaky", *key) < self.spec.flaky_rate

    def build_ms(self, included: Iterable[int]) -> int:
        """A build verifying these changes takes as long as the slowest of them."""
        return max(self.changes[i].build_ms for i in included)

    def passes(self, included: Iterable[int], *flake_key: object) -> bool:
        """A build passes iff every change it includes is good and it does not flake."""
        return all(self.changes[i].good for i in included) and not self.flaky(*flake_key)


def _adjacency(count: int, pairs: Iterable[tuple[int, int]]) -> list[frozenset[int]]:
    near: list[set[int]] = [set() for _ in range(count)]
    for a, b in pairs:
        if a != b:
            near[a].add(b)
            near[b].add(a)
    return [frozenset(n) for n in near]


def _draw_pairs(count: int, probability: float, seed: int) -> list[tuple[int, int]]:
    """Each pair of changes conflicts independently with `probability`: walk the pairs in order,
    jumping geometric gaps between conflicts (as many draws as conflicts, not as pairs)."""
    if probability <= 0 or count < 2:
        return []
    if probability >= 1:
        return [(i, j) for j in range(count) for i in range(j)]
    rng = random.Random(f"{seed}:conflicts")  # noqa: S311
    log_miss = math.log1p(-probability)
    total = count * (count - 1) // 2
    pairs: list[tuple[int, int]] = []
    position, row, row_start = -1, 1, 0  # row j holds the pairs (0..j-1, j)
    while True:
        position += 1 + int(math.log(1.0 - rng.random()) / log_miss)
        if position >= total:
            return pairs
        while position >= row_start + row:
            row_start += row
            row += 1
        pairs.append((position - row_start, row))


def generate(spec: WorkloadSpec, seed: int) -> Workload:
    """Poisson arrivals at `rate_per_hour` until the drain, per-author failure rates averaging
    `failure_probability` (so a history of outcomes carries signal), optionally scaled by per-folder
    risk (`FailureModel.AUTHOR_FOLDER`), and build times."""
    rng = random.Random(seed)  # noqa: S311  (a reproducible simulation, not a secret)
    team = _Team(spec, seed, rng)
    changes: list[Change] = []
    now = 0.0
    horizon = spec.arrivals_hours * HOUR_MS
    while True:
        now += rng.expovariate(spec.rate_per_hour) * HOUR_MS
        if now >= horizon:
            break
        changes.append(team.change(rng, len(changes), int(now)))
    return Workload(spec, seed, changes)


def prehistory(spec: WorkloadSpec, seed: int, count: int) -> tuple[Change, ...]:
    """`count` earlier changes of the same team as `generate(spec, seed)`'s: the same authors and
    folders with the same failure rates, drawn from a generator of their own (so the workload is
    unchanged). What a queue that has been running a while has already seen (arrival times 0)."""
    team = _Team(spec, seed, random.Random(seed))  # noqa: S311
    rng = random.Random(f"{seed}:prehistory")  # noqa: S311
    return tuple(team.change(rng, index, 0) for index in range(count))


class _Team:
    """Who writes the changes and where: per-author failure rates and per-folder risk."""

    def __init__(self, spec: WorkloadSpec, seed: int, rng: random.Random) -> None:
        self.spec = spec
        self.seed = seed
        self.authors = _author_failure_rates(spec, rng)
        self.weights = [1.0 / (rank + 1) for rank in range(spec.conflict.folders)]  # Zipf-like
        self.folders = [f"f{k:02d}" for k in range(spec.conflict.folders)]
        self.risk = _folder_risk(spec, seed, self.folders, self.weights)

    def change(self, rng: random.Random, index: int, arrival_ms: int) -> Change:
        spec, folders = self.spec, self.folders
        author = rng.randrange(spec.authors)
        picked: set[str] = set()
        while len(picked) < min(spec.conflict.folders_per_change, len(folders)):
            picked.add(rng.choices(folders, self.weights)[0])
        areas = tuple(sorted(picked))
        bad_rate = self.authors[author]
        if self.risk:
            factor = sum(self.risk[a] for a in areas) / len(areas)
            bad_rate = min(MAX_BAD_RATE, bad_rate * factor)
        return Change(
            index=index,
            arrival_ms=arrival_ms,
            good=rng.random() >= bad_rate,
            build_ms=_build_ms(spec, rng),
            author=f"a{author}",
            areas=areas,
            lines_changed=int(rng.lognormvariate(math.log(60), 1.2)),
            high=unit(self.seed, "high", index) < spec.high_share,
            bad_rate=bad_rate,
        )


def _author_failure_rates(spec: WorkloadSpec, rng: random.Random) -> list[float]:
    p = spec.failure_probability
    if p <= 0.0 or p >= 1.0:
        return [p] * spec.authors
    return [
        rng.betavariate(p * spec.author_spread, (1 - p) * spec.author_spread)
        for _ in range(spec.authors)
    ]


def _folder_risk(
    spec: WorkloadSpec, seed: int, folders: Sequence[str], weights: Sequence[float]
) -> dict[str, float]:
    """Per-folder factors on the author's rate, Gamma-distributed with mean 1 over changes (weighed
    by folder popularity), so the mean failure rate stays about p. Drawn from a generator of their
    own so the author model's workloads are unchanged by this option."""
    if spec.failure_model is FailureModel.AUTHOR or not folders:
        return {}
    rng = random.Random(f"{seed}:folder-risk")  # noqa: S311
    shape = spec.folder_spread
    raw = [rng.gammavariate(shape, 1.0 / shape) for _ in weights]
    mean = sum(r * w for r, w in zip(raw, weights, strict=True)) / sum(weights)
    return {folder: r / mean for folder, r in zip(folders, raw, strict=True)}


def _build_ms(spec: WorkloadSpec, rng: random.Random) -> int:
    mean = spec.build_minutes * MINUTE_MS
    if spec.build_distribution is BuildDistribution.FIXED:
        return round(mean)
    sigma = spec.build_sigma
    return max(1, round(rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)))
