"""Stovepipe's storage (spec §3.3): key/value stores with create-only and compare-and-swap writes.

One SQL implementation serves SQLite and PostgreSQL; every method is one transaction and is
synchronous (call it through `asyncio.to_thread`).
"""

from __future__ import annotations

from sq.platform.errs import VersionMismatchError
from sq.stovepipe.storage.base import AlreadyExistsError, NotFoundError
from sq.stovepipe.storage.schema import schema
from sq.stovepipe.storage.sql import SqlStorage

__all__ = ["AlreadyExistsError", "NotFoundError", "SqlStorage", "VersionMismatchError", "schema"]
