"""The base of every error polex raises on purpose.

Each subclass says what went wrong (a run directory, a schema, a backend, an
input...) and its message names the input and what to do; the command line
catches this one class and prints the message, so a user never sees a traceback
for a problem polex already understands."""

from __future__ import annotations


class PolexError(Exception):
    """An error polex explains itself: the message is for the user."""
