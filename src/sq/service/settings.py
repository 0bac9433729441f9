"""The whole system's settings (`sq.yaml`); every service reads the part it needs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from sq.platform.config import FileSettings
from sq.service.settings_auth import AuthSettings, HttpSettings
from sq.service.settings_stovepipe import StovepipeSettings
from sq.service.settings_submitqueue import SubmitQueueSettings
from sq.service.settings_types import Section


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "json"] = "auto"


class QueueSettings(Section):
    url: str | None = Field(default=None, description="Queue database; default <data_dir>/queue.db")
    max_payload_bytes: int = Field(default=1 << 20, gt=0)
    poll_interval_ms: int = Field(default=500, gt=0)
    retention_ms: int = Field(default=600_000, ge=0)
    drain_seconds: float = Field(default=30.0, gt=0)
    lease_duration_ms: int = Field(
        default=30_000, gt=0, description="How long a dead process keeps its partitions and builds"
    )
    visibility_timeout_ms: int = Field(
        default=60_000, gt=0, description="When a delivery a dead process held comes back"
    )

    def subscription_overrides(self) -> dict[str, int]:
        """SubmitQueue's services' subscriptions (Stovepipe has settings of its own)."""
        return {
            "poll_interval_ms": self.poll_interval_ms,
            "lease_duration_ms": self.lease_duration_ms,
            "lease_renewal_interval_ms": max(1, self.lease_duration_ms // 3),
            "visibility_timeout_ms": self.visibility_timeout_ms,
        }


class Settings(FileSettings):
    data_dir: Path = Path(".sq")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    log: LogSettings = LogSettings()
    auth: AuthSettings = AuthSettings()
    http: HttpSettings = HttpSettings()
    mq: QueueSettings = QueueSettings()
    submitqueue: SubmitQueueSettings = SubmitQueueSettings()
    stovepipe: StovepipeSettings = StovepipeSettings()

    def queue_url(self) -> str:
        return self.mq.url or f"sqlite:///{(self.data_dir / 'queue.db').resolve()}"
