"""The error a master operation raises to its caller (the UI, headless mode): one line that says
what went wrong and what to do about it."""
from __future__ import annotations

from campool_worker.errors import CampoolError


class MasterError(CampoolError):
    """A master operation that cannot be done; the text says why and what to do."""
