"""Error classification, in one place (platform-spec §2.6).

Every error a handler raises is one of three kinds:

- **user error** — the input was wrong; never retried;
- **retryable** — a transient infrastructure failure; redelivered with backoff;
- **non-retryable** — anything else, including every error nobody classified.

Retrying is opt-in: wrap with `RetryableError` (or raise a subclass), or let a classifier recognise
the cause. Wrappers keep the cause chain (`raise RetryableError("…") from exc`), and a wrapper
anywhere in the chain decides before any classifier runs; the outermost wrapper wins.
"""

from __future__ import annotations

import enum
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class Verdict(enum.StrEnum):
    UNKNOWN = "unknown"
    USER = "user"
    INFRA = "infra"
    INFRA_RETRYABLE = "infra_retryable"
    INFRA_DEPENDENCY = "infra_dependency"
    INFRA_DEPENDENCY_RETRYABLE = "infra_dependency_retryable"


class ClassifiedError(Exception):
    """Base of the framework's wrappers: carries a verdict for the whole chain below it."""

    verdict: Verdict = Verdict.INFRA


class UserError(ClassifiedError):
    """The request or message was wrong. Never retried."""

    verdict = Verdict.USER


class RetryableError(ClassifiedError):
    """A transient failure: try again later."""

    verdict = Verdict.INFRA_RETRYABLE


class DependencyError(ClassifiedError):
    """A dependency (an HTTP service, git remote, CI) failed for good."""

    verdict = Verdict.INFRA_DEPENDENCY


class RetryableDependencyError(ClassifiedError):
    """A dependency failed in a way that may pass on a later try."""

    verdict = Verdict.INFRA_DEPENDENCY_RETRYABLE


class VersionMismatchError(RetryableError):
    """A compare-and-swap write found a newer version than it read: reload and try again."""


Classifier = Callable[[BaseException], Verdict]
"""Looks at one node of a cause chain (never walks it) and returns UNKNOWN when it does not know."""


def chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes, outermost first, each once."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        yield node
        node = node.__cause__ if node.__cause__ is not None else node.__context__


def verdict_of(exc: BaseException, classifiers: Sequence[Classifier] = ()) -> Verdict:
    """Classify an error: the outermost framework wrapper wins, else the first classifier."""
    nodes = list(chain(exc))
    for node in nodes:
        if isinstance(node, ClassifiedError):
            return node.verdict
    for node in nodes:
        for classify in classifiers:
            found = classify(node)
            if found is not Verdict.UNKNOWN:
                return found
    return Verdict.INFRA


def is_retryable(verdict: Verdict) -> bool:
    return verdict in (Verdict.INFRA_RETRYABLE, Verdict.INFRA_DEPENDENCY_RETRYABLE)


# --- shipped classifiers -------------------------------------------------------------------------


def classify_generic(node: BaseException) -> Verdict:
    """Cancellation and timeouts are transient."""
    if isinstance(node, (TimeoutError, ConnectionError)):
        return Verdict.INFRA_RETRYABLE
    return Verdict.UNKNOWN


_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "disk i/o error")


def classify_sqlite(node: BaseException) -> Verdict:
    if isinstance(node, sqlite3.OperationalError):
        text = str(node).lower()
        if any(marker in text for marker in _SQLITE_TRANSIENT):
            return Verdict.INFRA_RETRYABLE
        return Verdict.INFRA
    if isinstance(node, sqlite3.IntegrityError):
        return Verdict.INFRA
    return Verdict.UNKNOWN


# SQLSTATE classes and codes (platform-spec §7.5): serialization failure, deadlock, lock not
# available, admin shutdown, cannot connect now, and every connection exception (class 08).
_PG_RETRYABLE = {
    "40001",
    "40P01",
    "55P03",
    "57P01",
    "57P02",
    "57P03",
    "53300",
    "08000",
    "08001",
    "08003",
    "08004",
    "08006",
    "08007",
    "08P01",
}


def classify_postgres(node: BaseException) -> Verdict:
    """By SQLSTATE; psycopg's `OperationalError` without one is the client's side of a connection
    that failed to open or broke (the server refusing a connection for too many clients arrives
    so, as its SQLSTATE 53300 comes with no result to carry it): transient, like class 08."""
    import psycopg

    sqlstate = getattr(node, "sqlstate", None)
    if sqlstate is None and isinstance(node, psycopg.OperationalError):
        return Verdict.INFRA_RETRYABLE
    if not isinstance(sqlstate, str):
        return Verdict.UNKNOWN
    if sqlstate in _PG_RETRYABLE or sqlstate.startswith("08"):
        return Verdict.INFRA_RETRYABLE
    return Verdict.INFRA


def classify_sqlalchemy(node: BaseException) -> Verdict:
    """SQLAlchemy wraps driver errors; a dropped connection is transient."""
    from sqlalchemy import exc as sa_exc

    if isinstance(node, sa_exc.DBAPIError) and node.connection_invalidated:
        return Verdict.INFRA_RETRYABLE
    if isinstance(node, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return Verdict.INFRA_RETRYABLE
    return Verdict.UNKNOWN


DEFAULT_CLASSIFIERS: tuple[Classifier, ...] = (
    classify_generic,
    classify_sqlalchemy,
    classify_postgres,
    classify_sqlite,
)


# --- failure attribution -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    type: str
    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """What went wrong with a message: a message, and optionally which entities it was about."""

    message: str
    subjects: tuple[Subject, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)

    def ids_of_type(self, type_: str) -> list[str]:
        return [s.id for s in self.subjects if s.type == type_]

    def encode(self) -> dict[str, Any] | None:
        """The structured half (subjects and detail), or None when there is none."""
        if not self.subjects and not self.detail:
            return None
        return {
            "subjects": [{"type": s.type, "id": s.id} for s in self.subjects],
            "detail": dict(self.detail),
        }

    @classmethod
    def decode(cls, message: str, encoded: Mapping[str, Any] | None) -> Failure:
        if not encoded:
            return cls(message=message)
        subjects = tuple(
            Subject(type=str(s["type"]), id=str(s["id"])) for s in encoded.get("subjects") or []
        )
        return cls(message=message, subjects=subjects, detail=dict(encoded.get("detail") or {}))


def attribute(exc: BaseException, *subjects: Subject, **detail: Any) -> BaseException:
    """Attach subjects and detail to an error without changing how it is classified."""
    existing: list[Subject] = list(getattr(exc, "_sq_subjects", ()))
    existing.extend(s for s in subjects if s not in existing)
    exc._sq_subjects = tuple(existing)  # type: ignore[attr-defined]
    merged = dict(detail)
    merged.update(getattr(exc, "_sq_detail", {}))
    exc._sq_detail = merged  # type: ignore[attr-defined]
    return exc


MAX_RETRY_AFTER_S = 3600.0
"""A dependency's hint is honoured up to an hour: a longer one is more likely a bad header."""


def retry_after_ms(exc: BaseException) -> int | None:
    """The longest wait a dependency asked for anywhere in the chain (`retry_after_s`, as a rate
    limited API client sets it from `Retry-After` or a reset time), capped; None without one."""
    hints = [
        float(hint)
        for node in chain(exc)
        if isinstance(hint := getattr(node, "retry_after_s", None), int | float)
        and hint == hint  # not NaN
        and hint > 0
    ]
    return round(min(max(hints), MAX_RETRY_AFTER_S) * 1000) if hints else None


def attribution(exc: BaseException) -> Failure:
    """Subjects accumulate from the outermost error inwards, de-duplicated; outer detail wins."""
    subjects: list[Subject] = []
    detail: dict[str, Any] = {}
    for node in chain(exc):
        for subject in getattr(node, "_sq_subjects", ()):
            if subject not in subjects:
                subjects.append(subject)
        for key, value in getattr(node, "_sq_detail", {}).items():
            detail.setdefault(key, value)
    message = str(exc) or type(exc).__name__
    return Failure(message=message, subjects=tuple(subjects), detail=detail)
