"""Runway's extension seams (one package per seam, a Protocol in its `__init__`)."""
