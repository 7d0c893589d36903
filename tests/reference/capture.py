"""Capture the reference's output for every case in `cases.py`.

    .venv/bin/python -m tests.reference.capture [--check]

Runs `codex execpolicy check` (codex-cli 0.169.0, located by
`../shared/tools/reference-codex` or `$EXECGUARD_REFERENCE_CODEX`) once per
case, in a fresh directory holding the case's files (that directory is the
working directory, so messages show the relative names), and writes
`tests/reference/fixtures.json`. With ``--check`` nothing is written; the
command fails if the fixtures on disk differ from a fresh capture.

The environment is fixed: no `RUST_BACKTRACE` (it appends a stack trace),
`HOME` and `CODEX_HOME` point at a dedicated, existing directory outside any
temp dir (otherwise the binary warns that it cannot create PATH aliases).
Any output that mentions the case's temporary directory is an error: it
would make the fixtures differ from run to run.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .cases import CASES, Case

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures.json"
REPO = HERE.parent.parent
LOCATOR = REPO.parent / "shared" / "tools" / "reference-codex"
REFERENCE_VERSION = "codex-cli 0.169.0"
TIMEOUT_SECONDS = 60


class CaptureError(Exception):
    pass


def find_reference() -> str:
    explicit = os.environ.get("EXECGUARD_REFERENCE_CODEX")
    if explicit:
        path = explicit
    else:
        if not LOCATOR.is_file():
            raise CaptureError(
                f"reference binary locator not found at {LOCATOR}; set "
                "EXECGUARD_REFERENCE_CODEX to the codex 0.169.0 binary")
        done = subprocess.run([str(LOCATOR)], capture_output=True, text=True, check=False)
        path = done.stdout.strip()
        if done.returncode != 0 or not path:
            raise CaptureError(f"{LOCATOR} failed ({done.returncode}): {done.stderr.strip()}")
    if not os.access(path, os.X_OK):
        raise CaptureError(f"reference binary {path!r} is missing or not executable")
    return path


def reference_env() -> dict[str, str]:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    home = os.path.join(cache, "execguard-reference", "home")
    os.makedirs(home, exist_ok=True)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "CODEX_HOME": home,
            "LC_ALL": "C.UTF-8"}


def encode_file(content: str | bytes) -> dict[str, str]:
    """Text files are stored as text; byte-exact ones (invalid UTF-8, BOM,
    UTF-16) as base64."""
    if isinstance(content, bytes):
        return {"base64": base64.b64encode(content).decode("ascii")}
    return {"text": content}


def decode_file(stored: dict[str, str]) -> bytes:
    if "base64" in stored:
        return base64.b64decode(stored["base64"])
    return stored["text"].encode("utf-8")


def materialise(files: dict[str, bytes], directory: Path) -> None:
    """Create ``files`` under ``directory``; a name ending in ``/`` is a
    directory (created before the files, so files may live inside it)."""
    for name in sorted(n for n in files if n.endswith("/")):
        (directory / name).mkdir(parents=True)
    for name, data in files.items():
        if not name.endswith("/"):
            (directory / name).write_bytes(data)


def run_case(binary: str, case: Case, env: dict[str, str]) -> dict[str, Any]:
    files = {name: encode_file(content) for name, content in case.files.items()}
    with tempfile.TemporaryDirectory(prefix="execguard-ref-") as tmp:
        materialise({n: decode_file(f) for n, f in files.items()}, Path(tmp))
        done = subprocess.run([binary, "execpolicy", "check", *case.argv], cwd=tmp, env=env,
                              capture_output=True, timeout=TIMEOUT_SECONDS, check=False)
        try:
            stdout = done.stdout.decode("utf-8")
            stderr = done.stderr.decode("utf-8")
        except UnicodeDecodeError as error:
            raise CaptureError(f"{case.name}: output is not UTF-8: {error}") from None
        for text in (stdout, stderr):
            if tmp in text or os.path.realpath(tmp) in text:
                raise CaptureError(f"{case.name}: output depends on the temp dir:\n{text}")
    if "WARNING: proceeding, even though we could not create PATH aliases" in stderr:
        raise CaptureError(f"{case.name}: the reference warned about PATH aliases; "
                           f"is CODEX_HOME ({env['CODEX_HOME']}) usable?\n{stderr}")
    if "Stack backtrace" in stderr:
        raise CaptureError(f"{case.name}: stack backtrace in stderr (RUST_BACKTRACE?)")
    return {"name": case.name, "files": files, "argv": case.argv,
            "exit_code": done.returncode, "stdout": stdout, "stderr": stderr}


def capture() -> dict[str, Any]:
    names = [case.name for case in CASES]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CaptureError(f"duplicate case names: {duplicates}")
    binary = find_reference()
    env = reference_env()
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, env=env,
                             check=False).stdout.strip()
    if version != REFERENCE_VERSION:
        raise CaptureError(f"expected {REFERENCE_VERSION}, {binary} is {version!r}")
    return {"reference": version, "cases": [run_case(binary, case, env) for case in CASES]}


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=1, ensure_ascii=True) + "\n"


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    if argv and not check:
        print("usage: python -m tests.reference.capture [--check]", file=sys.stderr)
        return 2
    try:
        text = dump(capture())
    except (CaptureError, OSError, subprocess.SubprocessError) as error:
        print(f"capture failed: {error}", file=sys.stderr)
        return 1
    cases = json.loads(text)["cases"]
    errors = sum(1 for c in cases if c["exit_code"] != 0)
    if check:
        current = FIXTURES.read_text(encoding="utf-8") if FIXTURES.exists() else ""
        if current != text:
            print(f"{FIXTURES} is out of date; re-run without --check", file=sys.stderr)
            return 1
        print(f"{FIXTURES.name} is up to date ({len(cases)} cases, {errors} errors)")
        return 0
    FIXTURES.write_text(text, encoding="utf-8")
    print(f"wrote {len(cases)} cases ({errors} with a non-zero exit code) to {FIXTURES}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
