"""Benchmarks of the back office on a throwaway PostgreSQL: `make bench` (see bench/__main__.py)."""
