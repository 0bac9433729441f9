"""A batch of several requests passes only if each of them does (doc/batching-queue.md)."""

from __future__ import annotations

import dataclasses

from sq.submitqueue.entity.batch import Batch, RequestID
from sq.submitqueue.extension.scorer import Scorer


def one_request(batch: Batch, request_id: RequestID) -> Batch:
    """`batch` as if it held `request_id` alone: what a member is scored as."""
    return dataclasses.replace(batch, contains=(request_id,))


class MemberProductScorer:
    """Scores a batch as the product of its members' scores, each scored as a one-request batch
    by `inner`; a one-request batch scores exactly as `inner` says."""

    def __init__(self, inner: Scorer) -> None:
        self.inner = inner

    def score(self, batch: Batch) -> float:
        if len(batch.contains) <= 1:
            return self.inner.score(batch)
        product = 1.0
        for request_id in batch.contains:
            product *= self.inner.score(one_request(batch, request_id))
        return product
