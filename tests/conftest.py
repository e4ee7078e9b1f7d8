"""Shared test setup. The ``aws`` and ``moto_server`` fixtures come from our pytest plugin."""
