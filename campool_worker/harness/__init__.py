"""Harnesses that ship with the worker but are not part of counting: the `bench` command and the
``test://`` camera of the test suite. Nothing in the daemon's domain modules imports these at
start; the daemon reaches the test hook only with the ``test_hooks`` setting on."""
