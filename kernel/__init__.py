"""The shared kernel under `retrieval` and `bot`: the error tree, the value types passed
between stages, the AWS client boundary (one client factory, error codes and their
translation) and the `Retriever` protocol.

It imports nothing from `bot` or `retrieval` (an import-linter contract in pyproject.toml
holds it to that), so both layers can depend on it without depending on each other.
"""
