"""campool-gui: the operator's control center (the master of the worker pool)."""

__version__ = "0.1.0"
