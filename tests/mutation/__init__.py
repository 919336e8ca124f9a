"""Mutation testing for the safety-critical modules: `make mutation` (see runner.py)."""
