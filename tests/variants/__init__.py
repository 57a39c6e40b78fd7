"""Unusual but correct implementations: each must keep full marks (see tests/mistakes for the format)."""
