"""Errors that reach an operator: each says what went wrong and what to do about it."""


class CampoolError(Exception):
    """An error the command line prints as one line (no traceback) before exiting non-zero."""

    exit_code = 2


class SourceError(CampoolError):
    """A stream or file that cannot be opened or read."""


class ModelError(CampoolError):
    """A model file that is missing, not ONNX, or has an output layout we do not know."""
