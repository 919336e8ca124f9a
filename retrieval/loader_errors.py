"""The ways a document can fail to load; each message is a short reason for the ingest report."""

from __future__ import annotations


class LoaderError(Exception):
    """A document could not be loaded; the message is a short human reason."""


class UnsupportedFormat(LoaderError): ...


class CorruptFile(LoaderError): ...


class EmptyDocument(LoaderError): ...


class UndecodableText(LoaderError): ...


class ProtectedDocument(LoaderError):
    """Password-protected, encrypted or distribution-locked: the text cannot be read."""
