"""Replay the reference app-server probes (tests/reference/app_server) against
our `execguard app-server` and compare the normalised outcomes with the ones
recorded from codex-cli 0.169.0 in `fixtures.json`.

Every probe not marked ``reference_only`` is replayed with the same runner
that captured it (`tests/reference/app_server/runner.py`); outcomes must be
equal, except for the outcome paths a probe's ``divergence`` excludes (each
one states why). Re-capture with `python -m tests.reference.app_server.capture`
(needs the reference binary; this test does not).

``EXECGUARD_REPLAY_SERVER=$(../shared/tools/reference-codex) pytest
tests/test_app_server_reference.py`` replays against the reference itself,
which checks the harness (all probes pass).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.reference.app_server.capture import FIXTURES
from tests.reference.app_server.probes import PROBES
from tests.reference.app_server.runner import ProbeError, compare, probe_digest, run_probe

RECORDED: dict[str, Any] = json.loads(FIXTURES.read_text(encoding="utf-8"))
REPLAYED = [p for p in PROBES if not p.get("reference_only")]
# EXECGUARD_REPLAY_SERVER=<binary> replays against another server (e.g. the
# reference itself, to check the harness: every probe must then pass).
SERVER = Path(os.environ.get("EXECGUARD_REPLAY_SERVER")
              or Path(sys.executable).parent / "execguard")


def our_argv() -> list[str]:
    return [str(SERVER), "app-server"]


def test_every_probe_has_a_current_fixture() -> None:
    assert RECORDED["reference"] == "codex-cli 0.169.0"
    stale = [p["name"] for p in PROBES
             if RECORDED["probes"].get(p["name"], {}).get("digest") != probe_digest(p)]
    assert not stale, f"re-capture these probes (python -m tests.reference.app_server.capture " \
                      f"--only {' '.join(stale)})"
    assert set(RECORDED["probes"]) == {p["name"] for p in PROBES}


def test_divergences_name_recorded_paths() -> None:
    """An excluded path must exist in the recorded outcome (catches typos)."""
    for probe in PROBES:
        for path in probe.get("divergence", {}).get("exclude", []):
            node: Any = RECORDED["probes"][probe["name"]]["outcome"]
            for part in path.split("."):
                node = node[int(part)] if isinstance(node, list) else node[part]


def test_compare_reports_differences() -> None:
    expected = {"responses": [{"id": 1, "result": {"exitCode": 0, "stdout": "a"}}]}
    actual = {"responses": [{"id": 1, "result": {"exitCode": 1, "stdout": "a"}}], "x": 1}
    assert compare(expected, actual) == ["responses.0.result.exitCode: expected 0, got 1",
                                         "x: unexpected 1"]
    assert compare(expected, actual, ["responses.0.result.exitCode", "x"]) == []
    assert compare(expected, {"responses": [1, 2]}) == [
        'responses: expected [{"id": 1, "result": {"exitCode": 0, "stdout": "a"}}], '
        'got [1, 2]']


@pytest.mark.parametrize("probe", REPLAYED, ids=lambda p: p["name"])
def test_replay(probe: dict[str, Any]) -> None:
    recorded = RECORDED["probes"][probe["name"]]
    assert recorded["digest"] == probe_digest(probe), "stale fixture: re-capture this probe"
    try:
        outcome = run_probe(probe, our_argv())
    except ProbeError as error:
        pytest.fail(f"probe could not run against {SERVER} app-server: {error}")
    exclude = probe.get("divergence", {}).get("exclude", [])
    differences = compare(recorded["outcome"], outcome, exclude)
    assert not differences, "\n".join(differences)
