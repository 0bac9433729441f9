"""Stovepipe's stages (spec §2): one module per controller, sharing `common`."""
