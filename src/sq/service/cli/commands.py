"""Imports every command module so that each registers itself on the `sq` group."""

from __future__ import annotations

from sq.service.cli import demo, mq, serve, speculate  # noqa: F401
