"""The ledger of incoming webhook deliveries: each id is acted on once, a replay is refused."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from sq.submitqueue.gateway.storage.schema import webhook_delivery


class DeliveryLedger:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, source: str, delivery_id: str, now_ms: int) -> bool:
        """True the first time `(source, delivery_id)` is recorded, False for a replay."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(webhook_delivery).values(
                        source=source, delivery_id=delivery_id, received_at_ms=now_ms
                    )
                )
        except IntegrityError:
            return False
        return True

    def forget(self, source: str, delivery_id: str) -> None:
        """Undo `record` for a delivery that could not be acted on, so its redelivery is not
        refused as a replay."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(webhook_delivery).where(
                    webhook_delivery.c.source == source,
                    webhook_delivery.c.delivery_id == delivery_id,
                )
            )
