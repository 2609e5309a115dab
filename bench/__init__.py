"""Benchmarks (see README.md); a package so that bench/search.py is not `search`."""
