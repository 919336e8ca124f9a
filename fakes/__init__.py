"""Loopback stand-ins for Slack, Bedrock and AWS, and the app's environment around them.

A top-level package rather than `tests/fakes`: the benchmarks drive the real app against
the same fakes, and a benchmark importing the test suite (or a conftest) would load pytest
plugins and fixtures it never uses. Nothing here imports `tests` or any conftest.
"""
