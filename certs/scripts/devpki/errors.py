"""The one exception the dev PKI raises for anything a person can fix."""

from __future__ import annotations


class PKIError(Exception):
    """A problem with input, files or state, phrased as: what, where, what to do.

    The CLI prints the message as one line and exits 2, so it must stand on its own
    without a traceback.
    """
