"""Reference fixtures: `codex execpolicy check` (codex-cli 0.169.0) outputs
captured by `python -m tests.reference.capture` and replayed against our CLI
by `tests/test_reference_replay.py`."""
