"""Stovepipe's extension seams."""
