"""campool-worker: the counting daemon that runs on every edge box."""

__version__ = "0.1.0"
