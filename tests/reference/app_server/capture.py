"""Capture the reference app-server's behaviour for every probe in `probes.py`.

    .venv/bin/python -m tests.reference.app_server.capture [--only NAME ...] [--print]

Starts `codex app-server` (codex-cli 0.169.0, located by
`../shared/tools/reference-codex` or `$EXECGUARD_REFERENCE_CODEX`) once per
probe, with a fresh `HOME`/`CODEX_HOME`, no `RUST_BACKTRACE`, and writes the
normalised outcomes to `fixtures.json` (sorted keys, indented). With
``--only`` just those probes are re-captured and merged into the existing
file; ``--print`` prints the outcomes instead of writing.

A probe that cannot be run (a wait times out, the server dies) is an error
and nothing is written.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..capture import CaptureError, find_reference
from .probes import PROBES
from .runner import ProbeError, probe_digest, run_probe

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures.json"
REFERENCE_VERSION = "codex-cli 0.169.0"


def reference_argv(binary: str) -> list[str]:
    # The runner builds the server's environment from scratch, so
    # RUST_BACKTRACE (and everything else of ours) is not passed on.
    return [binary, "app-server"]


def load_fixtures() -> dict[str, Any]:
    if not FIXTURES.exists():
        return {"reference": REFERENCE_VERSION, "probes": {}}
    data: dict[str, Any] = json.loads(FIXTURES.read_text(encoding="utf-8"))
    return data


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=True) + "\n"


def capture(names: list[str] | None) -> tuple[dict[str, Any], list[str]]:
    binary = find_reference()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             check=False, env={"PATH": "/usr/bin:/bin"}).stdout.strip()
    if version != REFERENCE_VERSION:
        raise CaptureError(f"expected {REFERENCE_VERSION}, {binary} is {version!r}")
    known = {p["name"] for p in PROBES}
    unknown = sorted(set(names or ()) - known)
    if unknown:
        raise CaptureError(f"unknown probes: {unknown}")
    data = load_fixtures() if names else {"probes": {}}
    data["reference"] = version
    failures = []
    for probe in PROBES:
        if names and probe["name"] not in names:
            continue
        start = time.monotonic()
        try:
            outcome = run_probe(probe, reference_argv(binary))
        except ProbeError as error:
            failures.append(f"{probe['name']}: {error}")
            print(f"FAIL {probe['name']}: {error}", file=sys.stderr)
            continue
        print(f"ok   {probe['name']} ({time.monotonic() - start:.1f} s)", file=sys.stderr)
        data["probes"][probe["name"]] = {"digest": probe_digest(probe), "outcome": outcome,
                                         "reference_only": bool(probe.get("reference_only"))}
    # Drop fixtures of probes that no longer exist.
    data["probes"] = {k: v for k, v in data["probes"].items() if k in known}
    return data, failures


def main(argv: list[str]) -> int:
    show = "--print" in argv
    names = [a for a in argv if not a.startswith("--")]
    if names and "--only" not in argv:
        print("usage: python -m tests.reference.app_server.capture [--only NAME ...] [--print]",
              file=sys.stderr)
        return 2
    try:
        data, failures = capture(names or None)
    except (CaptureError, OSError) as error:
        print(f"capture failed: {error}", file=sys.stderr)
        return 1
    if show:
        for name in names or sorted(data["probes"]):
            if name in data["probes"]:
                print(name, json.dumps(data["probes"][name]["outcome"], indent=1,
                                       sort_keys=True))
    if failures:
        print(f"{len(failures)} probe(s) failed; fixtures not written", file=sys.stderr)
        return 1
    if not show:
        FIXTURES.write_text(dump(data), encoding="utf-8")
        print(f"wrote {len(data['probes'])} probes ({data['reference']}) to {FIXTURES}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
