"""The whole system's settings (`sq.yaml`); every service reads the part it needs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sq.platform.config import FileSettings
from sq.service.settings_auth import AuthSettings, HttpSettings
from sq.service.settings_stovepipe import StovepipeSettings
from sq.service.settings_submitqueue import SubmitQueueSettings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "json"] = "auto"


class QueueSettings(_Section):
    url: str | None = Field(default=None, description="Queue database; default <data_dir>/queue.db")
    max_payload_bytes: int = Field(default=1 << 20, gt=0)
    poll_interval_ms: int = Field(default=500, gt=0)
    retention_ms: int = Field(default=600_000, ge=0)
    drain_seconds: float = Field(default=30.0, gt=0)


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
