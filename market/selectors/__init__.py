"""Reads of the market domain, filtered through portal.permissions."""
