"""Imports each service's wiring module, so that each registers its builder."""

from __future__ import annotations
