"""The errors the embedded stack reports to its callers."""

from __future__ import annotations


class StackError(Exception):
    """Raise when the stack cannot give a usable PostgreSQL or Kafka-protocol broker.

    The message is meant for a person: it says what went wrong and what to change. The CLI
    prints it without a traceback.
    """


class PortInUseError(StackError):
    """Raise when something holds a configured port but does not answer as expected."""


class StartupError(StackError):
    """Raise when a process the stack started did not become ready before its deadline."""
