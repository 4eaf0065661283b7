"""Shared test helpers: data paths, real servers (RTSP), worker processes."""
