"""Reference probes of the `command/exec` app-server RPC family: captured from
codex-cli 0.169.0 by `python -m tests.reference.app_server.capture`, replayed
against `execguard app-server` by `tests/test_app_server_reference.py`."""
