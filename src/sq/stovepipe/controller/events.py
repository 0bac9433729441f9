"""Stovepipe's hook events (doc/stovepipe.md "Hook events").

- `commit.green` / `commit.red`: a whole-repository (`project` empty) or project verdict was
  recorded. Published on every delivery that reaches the fact, the first one or a replay, so a
  crash never loses it; the id is one per (queue, uri, project), so the queue keeps one.
- `promotion.moved`: a promotion ref was pushed forward (payload `ref`, `old`, `new`).
"""

from __future__ import annotations

from sq.platform.hooks import new_event, publish_hook
from sq.platform.pipeline import StageContext
from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import ValidationFact
from sq.stovepipe.extension.sourcecontrol import Promotion

SOURCE = "stovepipe"
COMMIT_GREEN = "commit.green"
COMMIT_RED = "commit.red"
PROMOTION_MOVED = "promotion.moved"


def subject(queue: str, uri: str) -> str:
    return f"{queue}/{uri}"


async def publish_fact_event(ctx: StageContext, deps: Deps, fact: ValidationFact) -> None:
    type_ = COMMIT_GREEN if fact.is_green else COMMIT_RED
    event = new_event(
        SOURCE,
        type_,
        subject(fact.queue, fact.uri),
        timestamp_ms=deps.clock.now_ms(),
        # Facts are unversioned and the same subject carries one fact per project: the project
        # stands in the id's cause slot ("" for the whole repository).
        cause_message_id=fact.project,
        facts={
            "queue": fact.queue,
            "uri": fact.uri,
            "project": fact.project,
            "degree": fact.degree,
            "request_id": fact.request_id,
            "recorded_at_ms": fact.created_at_ms,
        },
    )
    await publish_hook(ctx, event)


async def publish_promotion_event(
    ctx: StageContext, deps: Deps, queue: str, project: str, promotion: Promotion
) -> None:
    event = new_event(
        SOURCE,
        PROMOTION_MOVED,
        subject(queue, promotion.new),
        timestamp_ms=deps.clock.now_ms(),
        cause_message_id=f"{project}@{promotion.ref}",
        facts={
            "queue": queue,
            "uri": promotion.new,
            "project": project,
            "ref": promotion.ref,
            "old": promotion.old,
            "new": promotion.new,
        },
    )
    await publish_hook(ctx, event)
