"""Writes of the market domain: one named, typed, audited service per change."""
