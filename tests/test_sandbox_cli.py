"""`execguard debug sandbox` and `execguard sandbox doctor`, run as a user
runs them: the installed command, real bubblewrap and Landlock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXECGUARD = Path(sys.executable).parent / "execguard"
PYTHON = sys.executable


def run(*args: str, cwd: Path | None = None, stdin: str = "",
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXECGUARD), *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, check=False, timeout=60)


def sandbox(*args: str, cwd: Path | None = None, stdin: str = "",
            ) -> subprocess.CompletedProcess[str]:
    return run("debug", "sandbox", *args, cwd=cwd, stdin=stdin)


def ours(stderr: str) -> list[str]:
    """Our own lines on stderr (the command's are passed through)."""
    return [line for line in stderr.splitlines() if line.startswith("execguard: ")]


# -- running commands ----------------------------------------------------------------


def test_default_is_read_only_without_network_and_explains_the_denial(tmp_path: Path) -> None:
    target = tmp_path / "x"
    done = sandbox("touch", str(target), cwd=tmp_path)
    assert done.returncode == 1
    assert f"touch: cannot touch '{target}': Read-only file system" in done.stderr
    assert ours(done.stderr) == [
        "execguard: bubblewrap sandbox, readOnly, network off: exit 1",
        f"execguard: the sandbox denied writing {target} (read-only file system)",
    ]
    assert not target.exists()


def test_workspace_write_allows_the_workspace_and_extra_roots(tmp_path: Path) -> None:
    workspace, extra = tmp_path / "ws", tmp_path / "extra"
    workspace.mkdir()
    extra.mkdir()
    # --exclude-tmp: bubblewrap would bind /tmp/.git and friends, placeholders
    # that concurrent runs elsewhere create and remove.
    done = sandbox("--workspace-write", "--exclude-tmp", "--writable-root", str(extra),
                   "--cd", str(workspace),
                   "--", "sh", "-c", f"echo a > f && echo b > {extra}/g && cat f",
                   cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "a\n"), done.stderr
    assert ours(done.stderr) == ["execguard: bubblewrap sandbox, workspaceWrite, network off: "
                                 "exit 0"]
    assert (workspace / "f").read_text() == "a\n"
    assert (extra / "g").read_text() == "b\n"
    # Protected metadata stays read-only, and bwrap's mount points are gone afterwards.
    denied = sandbox("--workspace-write", "--exclude-tmp", "--cd", str(workspace),
                     "mkdir", f"{workspace}/.git/hooks")
    assert denied.returncode == 1
    assert ours(denied.stderr)[-1] == (f"execguard: the sandbox denied writing {workspace}/.git/"
                                       "hooks (read-only file system)")
    assert sorted(os.listdir(workspace)) == ["f"]


def test_policy_json_is_the_wire_shape(tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    policy = json.dumps({"type": "workspaceWrite", "writableRoots": [str(extra)],
                         "excludeSlashTmp": True, "excludeTmpdirEnvVar": True})
    done = sandbox("--policy", policy, "--json", "--cd", str(tmp_path / "extra"), "touch",
                   str(extra / "ok"))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stderr.splitlines()[-1])
    assert report["policy"]["writableRoots"] == [str(extra)]
    assert report["policy"]["excludeSlashTmp"] is True
    assert (report["denied"], report["violation"]) == (False, None)


def test_network_flag(tmp_path: Path) -> None:
    code = "import socket; socket.socket(socket.AF_INET).close(); print('ok')"
    allowed = sandbox("--network", PYTHON, "-c", code, cwd=tmp_path)
    assert (allowed.returncode, allowed.stdout) == (0, "ok\n"), allowed.stderr
    assert ours(allowed.stderr) == ["execguard: bubblewrap sandbox, readOnly, network on: exit 0"]
    denied = sandbox(PYTHON, "-c", code, cwd=tmp_path)
    assert denied.returncode == 1
    assert "PermissionError: [Errno 1] Operation not permitted" in denied.stderr
    assert ours(denied.stderr)[1:] == [
        "execguard: the sandbox denied an operation (operation not permitted)"]


def test_landlock_backend(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    args = ("--backend", "landlock", "--workspace-write", "--exclude-tmp", "--cd", str(tmp_path))
    done = sandbox(*args, "sh", "-c", "echo a > src/f")
    assert done.returncode == 0, done.stderr
    assert ours(done.stderr) == ["execguard: landlock sandbox, workspaceWrite, network off: "
                                 "exit 0"]
    assert (tmp_path / "src" / "f").read_text() == "a\n"
    # By design nothing can be created at the top of a root that holds protected names.
    top = sandbox(*args, "touch", str(tmp_path / "new"))
    assert top.returncode == 1
    assert ours(top.stderr)[1] == (f"execguard: the sandbox denied access to {tmp_path}/new "
                                   "(permission denied)")
    assert not (tmp_path / "new").exists()


def test_an_unenforceable_policy_refuses_the_command(tmp_path: Path) -> None:
    # Landlock needs one rule per entry of a workspace root with protected
    # names; beyond its cap it refuses rather than grant too much.
    for index in range(10_001):
        (tmp_path / f"f{index}").touch()
    marker = tmp_path.parent / f"{tmp_path.name}-ran"
    done = sandbox("--backend", "landlock", "--workspace-write", "--exclude-tmp",
                   "--cd", str(tmp_path), "touch", str(marker))
    assert done.returncode == 1
    assert "the command was not run" in done.stderr
    assert "more than 10000 writable rules" in done.stderr
    assert "execguard:   bubblewrap: ok" in done.stderr
    assert not marker.exists()


def test_exit_status_and_signals_pass_through(tmp_path: Path) -> None:
    seven = sandbox("sh", "-c", "exit 7", cwd=tmp_path)
    assert seven.returncode == 7
    assert ours(seven.stderr) == ["execguard: bubblewrap sandbox, readOnly, network off: exit 7"]
    for backend in ("bubblewrap", "landlock"):
        killed = sandbox("--backend", backend, "sh", "-c", "kill -9 $$", cwd=tmp_path)
        assert killed.returncode == 137
        assert ours(killed.stderr) == [f"execguard: {backend} sandbox, readOnly, network off: "
                                       "exit 137"]
    missing = sandbox("no-such-command-here", cwd=tmp_path)
    assert missing.returncode == 127
    assert "no-such-command-here: command not found" in missing.stderr


def test_streams_pass_through_in_order_with_stdin(tmp_path: Path) -> None:
    script = "cat; for i in $(seq 200); do echo out$i; echo err$i >&2; done"
    done = sandbox("sh", "-c", script, cwd=tmp_path, stdin="from stdin\n")
    assert done.returncode == 0
    assert done.stdout == "from stdin\n" + "".join(f"out{i}\n" for i in range(1, 201))
    lines = done.stderr.splitlines()
    assert lines[:-1] == [f"err{i}" for i in range(1, 201)]
    assert lines[-1].startswith("execguard: ")


def test_large_output_passes_through_intact(tmp_path: Path) -> None:
    code = ("import sys\n"
            "block = bytes(range(256)) * 4096\n"
            "for i in range(10):\n"
            "    sys.stdout.buffer.write(block); sys.stdout.flush()\n"
            "    sys.stderr.buffer.write(block[: 100_000]); sys.stderr.flush()\n")
    done = subprocess.run([str(EXECGUARD), "debug", "sandbox", "--json", PYTHON, "-c", code],
                          cwd=tmp_path, capture_output=True, check=False, timeout=60)
    assert done.returncode == 0
    block = bytes(range(256)) * 4096
    assert done.stdout == block * 10
    assert done.stderr.startswith(block[:100_000] * 10)
    report = json.loads(done.stderr[len(block[:100_000]) * 10:])
    assert (report["exit_code"], report["denied"]) == (0, False)


def test_json_report(tmp_path: Path) -> None:
    target = tmp_path / "x"
    done = sandbox("--json", "sh", "-c", f"echo hi > {target}", cwd=tmp_path)
    assert done.returncode == 2  # dash's status for a failed redirection
    report = json.loads(done.stderr.splitlines()[-1])
    assert report == {
        "backend": "bubblewrap",
        "policy": {"type": "readOnly", "networkAccess": False},
        "exit_code": 2,
        "denied": True,
        "violation": {"reason": "read_only_file_system", "path": str(target)},
    }


def test_explain_for_macos_prints_the_seatbelt_profile(tmp_path: Path) -> None:
    """Policies can be reviewed for macOS from Linux: the profile and the
    sandbox-exec argv, paths in their macOS forms, nothing run or created."""
    (tmp_path / ".git").mkdir()
    done = sandbox("--explain", "--platform", "macos", "--workspace-write", "--exclude-tmp",
                   "--cd", str(tmp_path))
    assert (done.returncode, done.stdout) == (0, "")
    lines = done.stderr.splitlines()
    assert lines[0] == "execguard: seatbelt sandbox (macOS), workspaceWrite:"
    argv = next(line for line in lines if line.startswith("  argv: "))
    macos_path = "/private" + str(tmp_path) if str(tmp_path).startswith("/tmp/") else str(
        tmp_path)
    assert argv.startswith("  argv: /usr/bin/sandbox-exec -p '<profile>' "
                           f"-DWRITABLE_ROOT_0={macos_path} ")
    assert argv.endswith(" -- COMMAND")
    assert "    (deny default)" in lines
    assert os.listdir(tmp_path) == [".git"]
    for bad, message in ((["--platform", "macos", "--explain", "true"], "only goes with"),
                         (["--platform", "windows", "--explain"], "possible values"),
                         (["--platform", "macos", "true"], "only goes with")):
        refused = sandbox(*bad)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr


def test_explain_alone_prints_the_plan_and_runs_nothing(tmp_path: Path) -> None:
    done = sandbox("--explain", "--workspace-write", "--cd", str(tmp_path))
    assert (done.returncode, done.stdout) == (0, "")
    lines = done.stderr.splitlines()
    assert lines[0] == "execguard: bubblewrap sandbox, workspaceWrite, network off:"
    assert f"  writable: {tmp_path}" in lines
    assert f"    read-only: {tmp_path}/.git" in lines
    assert "  seccomp: socket: only AF_UNIX (others: EPERM)" in lines
    assert os.listdir(tmp_path) == []  # the mount points it made are removed
    landlock = sandbox("--explain", "--backend", "landlock", "--network", "true",
                       cwd=tmp_path)
    assert landlock.returncode == 0
    assert landlock.stderr.splitlines()[1].startswith("  backend: landlock")
    assert any(line.startswith("  seccomp (vsock-only)") for line in landlock.stderr.splitlines())
    assert landlock.stderr.splitlines()[-1] == ("execguard: landlock sandbox, readOnly, "
                                                "network on: exit 0")


# -- usage errors ----------------------------------------------------------------------


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    cases = {
        ("--policy", '{"type":"workspaceWrite","writableRoots":[1]}', "true"):
            "workspaceWrite.writableRoots.0: Input should be a valid string",
        ("--policy", "{", "true"): "not JSON",
        ("--policy", '{"type":"readOnly"}', "--read-only", "true"):
            "'--policy <JSON>' cannot be used with '--read-only'",
        ("--read-only", "--workspace-write", "true"): "cannot be used with",
        ("--writable-root", "/tmp", "true"): "requires '--workspace-write'",
        ("--backend", "nope", "true"): "unknown sandbox backend 'nope'",
        ("--cd", str(tmp_path / "missing"), "true"): "not a directory",
        ("--bogus", "true"): "unexpected argument '--bogus'",
        (): "a COMMAND to run is required",
    }
    for args, message in cases.items():
        done = sandbox(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert "Usage: execguard debug sandbox" in done.stderr


# -- doctor and help ---------------------------------------------------------------------


def test_doctor() -> None:
    done = run("sandbox", "doctor")
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert "  bubblewrap: ok" in lines
    assert "  landlock: ok" in lines
    assert "workspaceWrite → bubblewrap" in lines
    assert any(line.startswith(f"kernel: Linux {os.uname().release}") for line in lines)
    assert any(line.startswith("bwrap: /usr/bin/bwrap (bubblewrap ") for line in lines)
    report = json.loads(run("sandbox", "doctor", "--json").stdout)
    assert [(b["name"], b["ok"]) for b in report["backends"]] == [("bubblewrap", True),
                                                                   ("landlock", True)]
    assert report["selection"] == {"readOnly": "bubblewrap", "workspaceWrite": "bubblewrap"}
    assert report["landlock_abi"] >= 1
    assert report["seccomp"]["supported"] is True
    assert run("sandbox", "doctor", "--bogus").returncode == 2


def test_help() -> None:
    top = run("--help")
    assert "debug sandbox" in top.stdout and "sandbox doctor" in top.stdout
    for args in (("debug", "sandbox", "--help"), ("sandbox", "doctor", "--help")):
        done = run(*args)
        assert done.returncode == 0
        assert done.stdout.startswith(("Run a command", "Report which"))
    assert run("sandbox").returncode == 2
    assert run("debug").returncode == 2
