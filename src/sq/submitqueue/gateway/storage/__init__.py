"""The gateway's storage: its tables, their migrations, and the only code that writes them."""

from __future__ import annotations

from pathlib import Path

from sq.platform.migrations import SchemaSet
from sq.submitqueue.gateway.storage.deliveries import DeliveryLedger
from sq.submitqueue.gateway.storage.schema import metadata
from sq.submitqueue.gateway.storage.store import RequestLogStore

__all__ = ["DeliveryLedger", "RequestLogStore", "schema_set"]


def schema_set() -> SchemaSet:
    return SchemaSet(
        name="gateway", directory=Path(__file__).parent / "migrations", metadata=metadata
    )
