"""Imports every command module so that each registers itself on the `sq` group."""

from __future__ import annotations

import sq.service.cli.sim  # noqa: F401
from sq.service.cli import client as _client  # noqa: F401
from sq.service.cli import demo, mq, serve, speculate  # noqa: F401
from sq.service.cli import stovepipe as _stovepipe  # noqa: F401
