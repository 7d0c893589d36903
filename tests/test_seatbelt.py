"""Seatbelt profiles (seatbelt/): goldens for every policy shape, the
reference's unit-test expectations (spec §5.5), the structure of every
profile, hostile path names, macOS path forms and the backend.

No macOS here: profiles are generated from in-memory file systems with
macOS paths (``/Users/...``, ``/private/tmp``), parsed by the package's own
SBPL reader and checked rule by rule; nothing is executed under Seatbelt.

Goldens live in ``tests/seatbelt_golden/<case>.sbpl`` (the profile) and
``<case>.json`` (inputs, argv with the profile elided, ``-D`` parameters,
environment markers). Regenerate them with ``EXECGUARD_UPDATE_GOLDEN=1``
and review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execguard.sandbox import (
    PROTECTED_NAMES,
    DangerFullAccess,
    ExternalSandbox,
    ReadOnly,
    SandboxBackend,
    SandboxPolicy,
    SandboxUnavailable,
    WorkspaceWrite,
    network_restricted,
    policy_json,
    resolve_writable_roots,
)
from execguard.sandbox.bwrap import NETWORK_DISABLED_ENV as BWRAP_NETWORK_DISABLED_ENV
from execguard.sandbox.network.environment import proxy_environment
from execguard.seatbelt import (
    NETWORK_DISABLED_ENV,
    SANDBOX_ENV,
    SEATBELT_EXECUTABLE,
    MemoryFileSystem,
    NetworkOptions,
    RealFileSystem,
    SeatbeltBackend,
    SeatbeltError,
    SeatbeltProfile,
    build_profile,
    canonical_path,
    explain,
    has_proxy_env,
    proxy_ports_from_env,
    seatbelt_command,
)
from execguard.seatbelt._sbpl import Regex, SbplError, Symbol, check_profile, parse
from execguard.seatbelt.network import network_policy_text
from execguard.seatbelt.profile import base_policy_text, exec_bridge_policy_text
from execguard.seatbelt.regex import regex_literal, regex_safe, subtree_regex
from execguard.seatbelt.writable import seatbelt_writable_roots

GOLDEN_DIR = Path(__file__).parent / "seatbelt_golden"
UPDATE_GOLDEN = os.environ.get("EXECGUARD_UPDATE_GOLDEN") == "1"
COMMAND = ["bash", "-c", "echo hi"]
MAC_TMPDIR = "/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T/"
CANONICAL_TMPDIR = "/private/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T"
KMP_BLOCK = """(allow ipc-posix-shm-read-data
  ipc-posix-shm-write-create
  ipc-posix-shm-write-unlink
  (ipc-posix-name-regex #"^/__KMP_REGISTERED_LIB_[0-9]+$"))"""
BLANKET_OUTBOUND = "\n(allow network-outbound)\n"
PROXY_PORTS = NetworkOptions(proxy_ports=(43128, 48081), proxy_configured=True)


# -- helpers ---------------------------------------------------------------------------


@dataclass
class Tree:
    """A macOS file system, as data (so that goldens can show it)."""

    dirs: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    symlinks: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # What every Mac has (/tmp, /var and /etc are links into /private).
        self.dirs = ["/private/tmp", CANONICAL_TMPDIR, "/private/etc", *self.dirs]

    def fs(self) -> MemoryFileSystem:
        return MemoryFileSystem(self.dirs, self.files, self.symlinks)


def profile_for(policy: SandboxPolicy, cwd: str = "/Users/dev/project", tree: Tree | None = None,
                tmpdir: str = "", network: NetworkOptions | None = None,
                exec_bridge: bool = False) -> SeatbeltProfile:
    tree = tree or Tree(dirs=["/Users/dev/project"])
    return build_profile(policy, cwd, fs=tree.fs(), tmpdir=tmpdir, network=network,
                         exec_bridge=exec_bridge)


def network_text(policy: SandboxPolicy, network: NetworkOptions | None = None) -> str:
    """The profile without the base policy (which has no network rule of its own)."""
    text = profile_for(policy, network=network).text
    assert text.startswith(base_policy_text())
    return text[len(base_policy_text()):]


def defines(argv: list[str]) -> dict[str, str]:
    """The -DKEY=VALUE arguments of a sandbox-exec argv, in order."""
    end = argv.index("--")
    result = {}
    for arg in argv[3:end]:
        assert arg.startswith("-D"), arg
        key, _, value = arg[2:].partition("=")
        assert key not in result, f"{key} defined twice"
        result[key] = value
    return result


def writable_defines(profile: SeatbeltProfile) -> list[str]:
    return [f"-D{key}={value}" for key, value in profile.params
            if key.startswith("WRITABLE_ROOT_")]


def metadata_requirements(root: str) -> list[str]:
    """The pattern exclusion of every protected name at the top of ``root``."""
    return [f"(require-not (regex {regex_literal(subtree_regex(root + '/' + name))}))"
            for name in PROTECTED_NAMES]


def assert_well_formed(profile: SeatbeltProfile, command: list[str] = COMMAND) -> None:
    """The argv shape, every form known, every parameter defined and used."""
    argv = profile.argv(command)
    assert argv[:3] == [SEATBELT_EXECUTABLE, "-p", profile.text]
    assert os.path.isabs(argv[0])
    separator = argv.index("--")
    assert argv[separator + 1:] == command
    defined = defines(argv)
    assert list(defined.items()) == list(profile.params)
    used = check_profile(parse(profile.text))
    assert used == set(defined), (used ^ set(defined))
    for value in defined.values():
        assert value.startswith("/") and "\0" not in value


def elide_regexes(text: str) -> str:
    return re.sub(r'#"[^"]*"', '#"R"', text)


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, tuple | list):
        for child in node:
            yield from walk(child)


def skeleton(node: Any) -> Any:
    if isinstance(node, Regex):
        return Regex("R")
    if isinstance(node, tuple | list):
        return tuple(skeleton(child) for child in node)
    return node


# -- goldens ---------------------------------------------------------------------------


@dataclass
class Case:
    policy: SandboxPolicy
    cwd: str
    tree: Tree
    tmpdir: str = ""
    network: NetworkOptions = field(default_factory=NetworkOptions)
    note: str = ""
    exec_bridge: bool = False


GIT_REPO = ["/Users/dev/repo/.git/hooks", "/Users/dev/repo/.git/objects", "/Users/dev/repo/.codex"]
GIT_REPO_FILES = {"/Users/dev/repo/.codex/config.toml": 'sandbox_mode = "read-only"\n',
                  "/Users/dev/repo/.git/config": "[core]\n"}
PLAIN = Tree(dirs=["/Users/dev/project/src"])

CASES: dict[str, Case] = {
    "read_only": Case(ReadOnly(), "/Users/dev/project", PLAIN,
                      note="read everything, write nothing but /dev/null, no network"),
    "read_only_network": Case(ReadOnly(network_access=True), "/Users/dev/project", PLAIN,
                              note="read-only, full network"),
    "workspace_write_git_cwd": Case(
        WorkspaceWrite(), "/Users/dev/repo", Tree(dirs=GIT_REPO, files=GIT_REPO_FILES),
        tmpdir=MAC_TMPDIR,
        note="default roots, cwd a git repo with .codex/ (spec 5.5): cwd, /tmp, $TMPDIR"),
    "workspace_write_two_roots": Case(
        WorkspaceWrite(writable_roots=("/Users/dev/repo", "/Users/dev/empty"),
                       exclude_slash_tmp=True, exclude_tmpdir_env_var=True),
        "/Users/dev/cwd",
        Tree(dirs=[*GIT_REPO, "/Users/dev/empty", "/Users/dev/cwd"], files=GIT_REPO_FILES),
        tmpdir=MAC_TMPDIR, note="the spec 5.2 example: cwd empty, a repo root, an empty root"),
    "workspace_write_network": Case(WorkspaceWrite(network_access=True), "/Users/dev/project",
                                    PLAIN, tmpdir=MAC_TMPDIR,
                                    note="workspace write, full network"),
    "proxy_only": Case(ReadOnly(), "/Users/dev/project", PLAIN, network=PROXY_PORTS,
                       note="network only through the proxy's loopback ports"),
    "proxy_local_binding": Case(
        ReadOnly(), "/Users/dev/project", PLAIN,
        network=NetworkOptions(proxy_ports=(43128,), proxy_configured=True,
                               allow_local_binding=True),
        note="proxy plus local servers and DNS"),
    "unix_socket_allowlist": Case(
        ReadOnly(), "/Users/dev/project", PLAIN,
        network=NetworkOptions(unix_sockets=("/tmp/b.sock", "/tmp/a.sock", "/tmp/a.sock")),
        note="network off but for two sockets: sorted, deduplicated, canonical"),
    "full_network_socket": Case(
        ReadOnly(network_access=True), "/Users/dev/project", PLAIN,
        network=NetworkOptions(unix_sockets=("/tmp/codex-browser-use",)),
        note="full network keeps its blanket rules, plus a socket"),
    "workspace_write_worktree_in_tmp": Case(
        WorkspaceWrite(writable_roots=("../main",), exclude_tmpdir_env_var=True), "/tmp/work",
        Tree(dirs=["/private/tmp/main/.git/worktrees/work", "/private/tmp/work/src"],
             files={"/private/tmp/work/.git": "gitdir: /tmp/main/.git/worktrees/work\n"}),
        note="a linked worktree and its main repo, both inside /tmp: nested roots, the "
             "gitdir, directories that cannot be renamed"),
    "workspace_write_unsafe_root": Case(
        WorkspaceWrite(writable_roots=('/Users/dev/we"ird\n(name)',), exclude_slash_tmp=True),
        "/Users/dev/project",
        Tree(dirs=["/Users/dev/project", '/Users/dev/we"ird\n(name)/.git']),
        note="a root no pattern can be written for: every protected name by parameter"),
    "workspace_write_exec_bridge": Case(
        WorkspaceWrite(), "/Users/dev/repo", Tree(dirs=GIT_REPO, files=GIT_REPO_FILES),
        tmpdir=MAC_TMPDIR, exec_bridge=True,
        note="workspace_write_git_cwd for a shell using the zsh exec bridge: the same profile "
             "plus exec_bridge.sbpl (AF_UNIX socketpairs), network still off"),
}


def run_case(case: Case) -> tuple[SeatbeltProfile, list[str], dict[str, str]]:
    wrapped = seatbelt_command(COMMAND, case.policy, case.cwd, {}, fs=case.tree.fs(),
                               tmpdir=case.tmpdir, network=case.network,
                               exec_bridge=case.exec_bridge)
    assert wrapped.profile is not None
    return wrapped.profile, wrapped.argv, wrapped.env


def golden_json(name: str, case: Case) -> str:
    profile, argv, env = run_case(case)
    shown = [f"<profile: {name}.sbpl>" if index == 2 else arg for index, arg in enumerate(argv)]
    inputs: dict[str, Any] = {
        "policy": policy_json(case.policy), "cwd": case.cwd, "tmpdir": case.tmpdir,
        "network": asdict(case.network), "fs": asdict(case.tree), "command": COMMAND}
    if case.exec_bridge:  # only when set: the other goldens predate the option
        inputs["exec_bridge"] = True
    record = {
        "note": case.note,
        "input": inputs,
        "argv": shown,
        "params": [[key, value] for key, value in profile.params],
        "env": env,
    }
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


def test_golden_dir_has_no_stale_files() -> None:
    expected = {f"{name}.{ext}" for name in CASES for ext in ("sbpl", "json")}
    if UPDATE_GOLDEN:
        GOLDEN_DIR.mkdir(exist_ok=True)
        for stale in {path.name for path in GOLDEN_DIR.iterdir()} - expected:
            (GOLDEN_DIR / stale).unlink()
        return  # the golden tests write the others
    assert {path.name for path in GOLDEN_DIR.iterdir()} == expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str) -> None:
    case = CASES[name]
    profile, _, _ = run_case(case)
    outputs = {f"{name}.sbpl": profile.text, f"{name}.json": golden_json(name, case)}
    for filename, text in outputs.items():
        path = GOLDEN_DIR / filename
        if UPDATE_GOLDEN:
            GOLDEN_DIR.mkdir(exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert path.read_text(encoding="utf-8") == text, (
            f"{filename} differs; regenerate with EXECGUARD_UPDATE_GOLDEN=1 and review")


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_profiles_are_well_formed(name: str) -> None:
    profile, argv, env = run_case(CASES[name])
    assert_well_formed(profile)
    assert argv == profile.argv(COMMAND)
    assert env[SANDBOX_ENV] == "seatbelt"
    assert (env.get(NETWORK_DISABLED_ENV) == "1") == network_restricted(CASES[name].policy)


def test_golden_sbpl_files_parse_as_written() -> None:
    """The files on disk, not only what the code makes now."""
    for path in GOLDEN_DIR.glob("*.sbpl"):
        record = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        used = check_profile(parse(path.read_text(encoding="utf-8")))
        assert used == {key for key, _ in record["params"]}, path.name


# -- spec 5.2 / 5.5: the reference's expectations -------------------------------------------


def test_base_policy_keeps_the_reference_essentials() -> None:
    base = base_policy_text()
    assert '(sysctl-name "machdep.cpu.brand_string")' in base
    assert '(sysctl-name "hw.model")' in base
    assert KMP_BLOCK in base
    assert base.count("ipc-posix-shm-write-create") == 1  # only for the KMP names
    for rule in ("(deny default)", "(allow process-exec)", "(allow process-fork)",
                 "(allow signal (target same-sandbox))",
                 "(allow process-info* (target same-sandbox))",
                 '(allow process-exec (path "/bin/ps") (with no-sandbox))',
                 "(allow ipc-posix-sem)", "(allow pseudo-tty)", "(allow user-preference-read)",
                 '(sysctl-name "kern.grade_cputype")', '(sysctl-name-prefix "kern.proc.pid.")'):
        assert rule in base, rule
    assert base.startswith("(version 1)\n")
    check_profile(parse(base))


def test_user_preferences_are_readable_not_writable() -> None:
    text = profile_for(ReadOnly()).text
    assert "(allow user-preference-read)" in text
    assert "user-preference-write" not in text


def test_proxy_ports_are_the_only_destinations() -> None:
    text = network_text(ReadOnly(), PROXY_PORTS)
    assert '(allow network-outbound (remote ip "localhost:43128"))' in text
    assert '(allow network-outbound (remote ip "localhost:48081"))' in text
    assert BLANKET_OUTBOUND not in text
    assert "\n(allow network-inbound)\n" not in text
    assert '(allow network-bind (local ip "*:*"))' not in text
    assert '(allow network-inbound (local ip "localhost:*"))' not in text
    assert '"*:53"' not in text
    assert network_policy_text() in text


def test_full_network_with_a_proxy_is_still_proxy_only() -> None:
    text = network_text(WorkspaceWrite(network_access=True),
                        NetworkOptions(proxy_ports=(43128,), proxy_configured=True))
    assert '(allow network-outbound (remote ip "localhost:43128"))' in text
    assert BLANKET_OUTBOUND not in text
    assert "\n(allow network-inbound)\n" not in text


def test_full_network_keeps_tls_without_the_user_cache_dir() -> None:
    text = network_text(WorkspaceWrite(network_access=True))
    assert '(global-name "com.apple.trustd.agent")' in text
    assert "DARWIN_USER_CACHE_DIR" not in text
    assert BLANKET_OUTBOUND in text and "(allow network-inbound)\n" in text


def test_local_binding_with_proxy_ports() -> None:
    text = network_text(ReadOnly(), NetworkOptions(proxy_ports=(43128,), proxy_configured=True,
                                                   allow_local_binding=True))
    for rule in ('(allow network-bind (local ip "*:*"))',
                 '(allow network-inbound (local ip "localhost:*"))',
                 '(allow network-outbound (remote ip "localhost:*"))',
                 '(allow network-outbound (remote ip "*:53"))'):
        assert rule in text, rule
    assert BLANKET_OUTBOUND not in text


def test_proxy_configured_without_ports_fails_closed() -> None:
    text = network_text(WorkspaceWrite(network_access=True), NetworkOptions(proxy_configured=True))
    assert "(socket-domain AF_SYSTEM)" in text
    assert BLANKET_OUTBOUND not in text
    assert '(remote ip "localhost:' not in text
    assert '"*:53"' not in text


def test_local_binding_without_proxy_ports_has_no_dns() -> None:
    text = network_text(WorkspaceWrite(network_access=True),
                        NetworkOptions(proxy_configured=True, allow_local_binding=True))
    assert '(allow network-bind (local ip "*:*"))' in text
    assert '"*:53"' not in text


def test_managed_network_without_a_proxy_fails_closed() -> None:
    text = network_text(WorkspaceWrite(network_access=True), NetworkOptions(managed=True))
    assert "(socket-domain AF_SYSTEM)" in text
    assert BLANKET_OUTBOUND not in text
    assert '"*:53"' not in text


def test_managed_network_allows_exactly_its_ports() -> None:
    text = network_text(ReadOnly(), NetworkOptions(proxy_ports=(43123, 48081), managed=True))
    ports = re.findall(r'\(allow network-outbound \(remote ip "localhost:(\d+)"\)\)', text)
    assert ports == ["43123", "48081"]
    assert "localhost:9999" not in text
    assert '(allow network-bind (local ip "*:*"))' not in text
    assert "(allow network-outbound)\n" not in text


def test_restricted_network_has_no_network_rule_at_all() -> None:
    text = network_text(WorkspaceWrite())
    assert "network-" not in text and "system-socket" not in text


def test_unix_socket_allowlist_rules() -> None:
    network = NetworkOptions(proxy_ports=(43128,), proxy_configured=True,
                             unix_sockets=("/tmp/example.sock",))
    profile = profile_for(ReadOnly(), network=network)
    assert "(allow system-socket (socket-domain AF_UNIX))" in profile.text
    assert ('(allow network-bind (local unix-socket (subpath (param "UNIX_SOCKET_PATH_0"))))'
            in profile.text)
    assert ('(allow network-outbound (remote unix-socket (subpath (param "UNIX_SOCKET_PATH_0"))))'
            in profile.text)
    assert "(allow network* (subpath" not in profile.text
    assert ("; allow unix domain sockets for local IPC\n"
            "(allow system-socket (socket-domain AF_UNIX))\n") in profile.text
    assert_well_formed(profile)


def test_explicit_socket_without_proxy_is_a_canonical_param() -> None:
    profile = profile_for(ReadOnly(), network=NetworkOptions(
        unix_sockets=("/tmp/codex-browser-use",)))
    assert "-DUNIX_SOCKET_PATH_0=/private/tmp/codex-browser-use" in profile.argv(COMMAND)
    assert "(allow system-socket (socket-domain AF_UNIX))" in profile.text
    assert BLANKET_OUTBOUND not in profile.text


def test_socket_params_are_sorted_by_path() -> None:
    profile = profile_for(ReadOnly(), network=NetworkOptions(
        unix_sockets=("/tmp/codex-proxy-use", "/tmp/codex-browser-use")))
    assert [arg for arg in profile.argv(COMMAND) if arg.startswith("-DUNIX_SOCKET_PATH_")] == [
        "-DUNIX_SOCKET_PATH_0=/private/tmp/codex-browser-use",
        "-DUNIX_SOCKET_PATH_1=/private/tmp/codex-proxy-use"]


def test_socket_params_are_deduplicated_and_sorted() -> None:
    profile = profile_for(ReadOnly(), network=NetworkOptions(
        unix_sockets=("/tmp/b.sock", "/tmp/a.sock", "/tmp/a.sock")))
    assert [item for item in profile.params if item[0].startswith("UNIX_")] == [
        ("UNIX_SOCKET_PATH_0", "/private/tmp/a.sock"),
        ("UNIX_SOCKET_PATH_1", "/private/tmp/b.sock")]


def test_full_network_with_an_explicit_socket_keeps_full_network() -> None:
    text = profile_for(ReadOnly(network_access=True), network=NetworkOptions(
        unix_sockets=("/tmp/codex-browser-use",))).text
    assert "(allow network-outbound)\n" in text
    assert "(allow network-inbound)\n" in text
    assert ('(allow network-outbound (remote unix-socket (subpath (param "UNIX_SOCKET_PATH_0"))))'
            in text)


def test_all_unix_sockets() -> None:
    profile = profile_for(ReadOnly(), network=NetworkOptions(
        proxy_ports=(43128,), allow_all_unix_sockets=True, unix_sockets=("/tmp/ignored",)))
    assert "(allow network-bind (local unix-socket))\n" in profile.text
    assert "(allow network-outbound (remote unix-socket))\n" in profile.text
    assert "(allow system-socket (socket-domain AF_UNIX))" in profile.text
    assert "(allow network* (subpath" not in profile.text
    assert not any(key.startswith("UNIX_") for key, _ in profile.params)
    assert_well_formed(profile)


@pytest.mark.parametrize("path", ["relative.sock", "./a.sock", "", "~/x.sock"])
def test_relative_socket_paths_are_rejected(path: str) -> None:
    with pytest.raises(SeatbeltError, match="must be absolute"):
        NetworkOptions(unix_sockets=(path,))


@pytest.mark.parametrize("port", [0, 65536, -1, True])
def test_bad_proxy_ports_are_rejected(port: int) -> None:
    with pytest.raises(SeatbeltError, match="TCP port"):
        NetworkOptions(proxy_ports=(port,))


def test_two_explicit_roots_match_the_spec_example() -> None:
    profile, _, _ = run_case(CASES["workspace_write_two_roots"])
    cwd, repo, empty = "/Users/dev/cwd", "/Users/dev/repo", "/Users/dev/empty"
    assert writable_defines(profile) == [
        f"-DWRITABLE_ROOT_0={cwd}",
        f"-DWRITABLE_ROOT_0_EXCLUDED_0={cwd}/.codex",  # the cwd: every name, though absent
        f"-DWRITABLE_ROOT_0_EXCLUDED_1={cwd}/.git",
        f"-DWRITABLE_ROOT_0_EXCLUDED_2={cwd}/.agents",
        f"-DWRITABLE_ROOT_0_EXCLUDED_3={cwd}/.aws",  # ours, beyond the reference
        f"-DWRITABLE_ROOT_0_EXCLUDED_4={cwd}/.execguard",
        f"-DWRITABLE_ROOT_1={repo}",
        f"-DWRITABLE_ROOT_1_EXCLUDED_0={repo}/.git",  # explicit roots: existing names only
        f"-DWRITABLE_ROOT_1_EXCLUDED_1={repo}/.codex",
        f"-DWRITABLE_ROOT_2={empty}",  # nothing there: the patterns cover it
    ]
    assert '(require-all (subpath (param "WRITABLE_ROOT_0"))' in profile.text
    assert r'(require-not (regex #"^/Users/dev/empty/\.execguard(/.*)?$"))' in profile.text
    for root in (cwd, repo, empty):
        for requirement in metadata_requirements(root):
            assert requirement in profile.text, requirement


def test_cwd_git_repo_with_default_roots() -> None:
    profile, _, _ = run_case(CASES["workspace_write_git_cwd"])
    params = dict(profile.params)
    assert params["WRITABLE_ROOT_0"] == "/Users/dev/repo"
    assert params["WRITABLE_ROOT_0_EXCLUDED_0"] == "/Users/dev/repo/.git"
    assert params["WRITABLE_ROOT_0_EXCLUDED_1"] == "/Users/dev/repo/.codex"
    assert params["WRITABLE_ROOT_1"] == "/private/tmp"
    assert params["WRITABLE_ROOT_2"] == CANONICAL_TMPDIR
    # The missing .agents is kept by its pattern (and, being the cwd's, by a
    # parameter after the existing names; the reference asserts only that
    # it is not EXCLUDED_1).
    assert params["WRITABLE_ROOT_0_EXCLUDED_2"] == "/Users/dev/repo/.agents"
    for root in ("/Users/dev/repo", "/private/tmp", CANONICAL_TMPDIR):
        for requirement in metadata_requirements(root):
            assert requirement in profile.text, requirement
    assert not any(key.startswith(("WRITABLE_ROOT_1_", "WRITABLE_ROOT_2_"))
                   for key, _ in profile.params)  # nothing exists at their top


def test_first_time_dot_codex_creation_is_blocked_by_pattern() -> None:
    tree = Tree(dirs=["/Users/dev/repo/.git"])
    profile = profile_for(WorkspaceWrite(writable_roots=("/Users/dev/repo",),
                                         exclude_slash_tmp=True),
                          cwd="/Users/dev/elsewhere", tree=tree)
    assert profile.roots[0].path == "/Users/dev/repo"  # the cwd does not exist: skipped
    assert r'(require-not (regex #"^/Users/dev/repo/\.codex(/.*)?$"))' in profile.text
    assert "/Users/dev/repo/.codex" not in dict(profile.params).values()


def test_git_pointer_file_and_its_gitdir_are_protected() -> None:
    tree = Tree(dirs=["/Users/dev/main/.git/worktrees/wt/hooks", "/Users/dev/cwd"],
                files={"/Users/dev/wt/.git": "gitdir: /Users/dev/main/.git/worktrees/wt\n",
                       "/Users/dev/main/.git/worktrees/wt/config": "[core]\n"})
    profile = profile_for(WorkspaceWrite(writable_roots=("/Users/dev/wt", "/Users/dev/main"),
                                         exclude_slash_tmp=True),
                          cwd="/Users/dev/cwd", tree=tree)
    params = profile.params
    assert ("WRITABLE_ROOT_1", "/Users/dev/wt") in params
    assert ("WRITABLE_ROOT_1_EXCLUDED_0", "/Users/dev/wt/.git") in params
    # The gitdir lies in another writable root: that root's rule excludes it.
    assert ("WRITABLE_ROOT_2", "/Users/dev/main") in params
    main_excluded = [value for key, value in params if key.startswith("WRITABLE_ROOT_2_EXCLUDED")]
    assert main_excluded == ["/Users/dev/main/.git", "/Users/dev/main/.git/worktrees/wt"]
    assert_well_formed(profile)


def test_relative_gitdir_is_resolved_from_the_pointer_file() -> None:
    tree = Tree(dirs=["/Users/dev/main/.git/worktrees/wt"],
                files={"/Users/dev/main/wt/.git": "gitdir: ../.git/worktrees/wt\n"})
    profile = profile_for(WorkspaceWrite(writable_roots=("..",), exclude_slash_tmp=True),
                          cwd="/Users/dev/main/wt", tree=tree)
    wt, main = profile.roots
    assert (wt.path, main.path) == ("/Users/dev/main/wt", "/Users/dev/main")
    # Not beneath wt: only main's rule can (and does) exclude it.
    assert "/Users/dev/main/.git/worktrees/wt" not in {c.path for c in wt.carveouts}
    assert [c.path for c in main.carveouts if not c.by_regex][:3] == [
        "/Users/dev/main/.git", "/Users/dev/main/wt/.git",
        "/Users/dev/main/.git/worktrees/wt"]


def test_a_granted_protected_name_stays_writable() -> None:
    tree = Tree(dirs=["/Users/dev/repo/.git/hooks"])
    profile = profile_for(WorkspaceWrite(writable_roots=(".git",), exclude_slash_tmp=True),
                          cwd="/Users/dev/repo", tree=tree)
    assert [root.path for root in profile.roots] == ["/Users/dev/repo", "/Users/dev/repo/.git"]
    repo = profile.roots[0]
    assert "/Users/dev/repo/.git" not in {carveout.path for carveout in repo.carveouts}
    assert r"repo/\.git(" not in profile.text
    assert r"repo/\.codex(" in profile.text


def test_nested_roots_exclude_each_others_protected_paths() -> None:
    """A workspace under /tmp: /tmp's rule alone would let ws/.git be written."""
    profile, _, _ = run_case(CASES["workspace_write_worktree_in_tmp"])
    roots = {root.path: root for root in profile.roots}
    assert list(roots) == ["/private/tmp/work", "/private/tmp/main", "/private/tmp"]
    tmp_paths = {carveout.path for carveout in roots["/private/tmp"].carveouts}
    for path in ("/private/tmp/work/.git", "/private/tmp/work/.codex",
                 "/private/tmp/main/.git", "/private/tmp/main/.git/worktrees/work",
                 "/private/tmp/main/.agents", "/private/tmp/.git"):
        assert path in tmp_paths, path
    assert profile.protected_ancestors == ("/private/tmp/main/.git",
                                           "/private/tmp/main/.git/worktrees")
    for index in range(3):
        assert ("(deny file-write-unlink (require-all (vnode-type DIRECTORY) "
                f'(literal (param "WRITABLE_ROOT_{index}"))))') in profile.text
    keys = [key for key, _ in profile.params]
    assert keys.index("PROTECTED_ANCESTOR_0") > max(
        index for index, key in enumerate(keys) if key.startswith("WRITABLE_ROOT_"))


def test_symlinked_protected_name_is_excluded_where_it_points() -> None:
    tree = Tree(dirs=["/Users/dev/project", "/Users/dev/project/real-codex"],
                symlinks={"/Users/dev/project/.codex": "real-codex"})
    profile = profile_for(WorkspaceWrite(exclude_slash_tmp=True), tree=tree)
    excluded = [value for key, value in profile.params if "_EXCLUDED_" in key]
    assert excluded[:2] == ["/Users/dev/project/.codex", "/Users/dev/project/real-codex"]


def test_unsafe_root_gets_parameters_instead_of_patterns() -> None:
    profile, _, _ = run_case(CASES["workspace_write_unsafe_root"])
    root = '/Users/dev/we"ird\n(name)'
    excluded = [value for key, value in profile.params if key.startswith("WRITABLE_ROOT_1_EXC")]
    assert excluded == [f"{root}/.git", *(f"{root}/{name}" for name in PROTECTED_NAMES
                                          if name != ".git")]
    assert "/Users/dev/we" not in profile.text
    assert_well_formed(profile)


def test_file_system_root_as_writable_root() -> None:
    profile = profile_for(WorkspaceWrite(writable_roots=("/",), exclude_slash_tmp=True))
    assert ("WRITABLE_ROOT_1", "/") in profile.params
    assert r'(require-not (regex #"^/\.codex(/.*)?$"))' in profile.text
    # Every other root lies beneath it: its rule excludes their metadata too.
    assert r'(require-not (regex #"^/Users/dev/project/\.git(/.*)?$"))' in profile.text.split(
        '(subpath (param "WRITABLE_ROOT_1"))')[1]
    assert_well_formed(profile)


def test_read_only_has_no_write_rule() -> None:
    profile = profile_for(ReadOnly())
    assert "file-write*" not in profile.text.replace(base_policy_text(), "")
    assert profile.params == ()


def test_missing_roots_are_skipped_and_nothing_is_writable() -> None:
    profile = profile_for(WorkspaceWrite(exclude_slash_tmp=True), cwd="/Users/dev/gone",
                          tree=Tree())
    assert profile.roots == () and "(allow file-write*" not in profile.text


# -- paths as macOS sees them ----------------------------------------------------------------


@pytest.mark.parametrize(("path", "expected"), [
    ("/tmp", "/private/tmp"), ("/tmp/a.sock", "/private/tmp/a.sock"),
    ("/var/folders/x/T/", "/private/var/folders/x/T"), ("/etc/hosts", "/private/etc/hosts"),
    ("/private/tmp/x", "/private/tmp/x"), ("/tmpx/y", "/tmpx/y"), ("/usr/tmp", "/usr/tmp"),
    ("/Users/dev/../dev/./p", "/Users/dev/p"), ("/", "/"), ("//tmp//x", "/private/tmp/x"),
])
def test_macos_aliases_on_any_host(path: str, expected: str) -> None:
    assert canonical_path(path, MemoryFileSystem()) == expected


def test_symlinks_are_resolved_through_the_view() -> None:
    fs = MemoryFileSystem(dirs=["/Volumes/data/ws", "/Users/dev"],
                          symlinks={"/Users/dev/ws": "/Volumes/data/ws", "/Users/dev/rel": "ws",
                                    "/Users/dev/up": "../dev/ws/..", "/Users/dev/loop": "loop",
                                    "/Users/dev/t": "/tmp/x"})
    assert canonical_path("/Users/dev/ws/src", fs) == "/Volumes/data/ws/src"
    assert canonical_path("/Users/dev/rel", fs) == "/Volumes/data/ws"
    assert canonical_path("/Users/dev/up", fs) == "/Volumes/data"
    assert canonical_path("/Users/dev/t", fs) == "/private/tmp/x"
    assert canonical_path("/Users/dev/loop/x", fs) == "/Users/dev/loop/x"
    with pytest.raises(SeatbeltError, match="absolute"):
        canonical_path("relative", fs)


@pytest.fixture
def base() -> Iterator[Path]:
    # Under /var/tmp, not pytest's tmp_path (under /tmp, itself a writable root).
    path = Path(tempfile.mkdtemp(prefix="execguard-seatbelt-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_real_file_system_finds_private_paths_on_linux(base: Path) -> None:
    fs = RealFileSystem(private_aliases=True)
    (base / "dir").mkdir()
    (base / "link").symlink_to("dir")
    private = "/private" + str(base)
    assert fs.kind(private + "/dir") == "dir"
    assert fs.kind(private + "/link") == "symlink"
    assert canonical_path(str(base / "link"), fs) == private + "/dir"
    assert fs.kind("/private/tmpfoo") is None and fs.kind("/nonexistent\0") is None


def test_real_roots_agree_with_the_linux_resolution(base: Path) -> None:
    """The same roots and protected paths as sandbox/roots.py, in macOS form."""
    ws, extra, main = base / "ws", base / "extra", base / "main"
    for path in (ws / ".codex", extra, main / ".git" / "worktrees" / "ws"):
        path.mkdir(parents=True)
    (ws / ".git").write_text(f"gitdir: {main}/.git/worktrees/ws\n")
    (extra / ".agents").symlink_to(ws / "target")
    (ws / "target").mkdir()
    policy = WorkspaceWrite(writable_roots=(str(extra), str(main), "missing"),
                            exclude_tmpdir_env_var=True)
    linux = resolve_writable_roots(policy, str(ws))
    mac = seatbelt_writable_roots(policy, str(ws), RealFileSystem(private_aliases=True), None)

    def linux_form(path: str) -> str:
        return path.removeprefix("/private") if path.startswith("/private/") else path

    assert [linux_form(root.path) for root in mac] == [root.path for root in linux]
    # Every path the Linux backend keeps read-only is excluded from every
    # root that contains it (a gitdir under another root: by that root).
    for linux_root in linux:
        for protected in linux_root.read_only:
            containing = [writable for writable in mac if protected.startswith(
                linux_form(writable.path) + "/")]
            for writable in containing:
                assert protected in {linux_form(c.path) for c in writable.carveouts}, (
                    protected, writable.path)
    ws_root, extra_root, main_root = mac[0], mac[1], mac[2]
    assert [c.path for c in extra_root.carveouts if not c.by_regex] == [
        f"/private{extra}/.agents"]
    assert f"/private{ws}/target" in {c.path for c in ws_root.carveouts}  # the link's target
    assert f"/private{main}/.git/worktrees/ws" in {c.path for c in main_root.carveouts}


def test_real_file_system_is_the_default(base: Path) -> None:
    (base / "ws").mkdir()
    profile = build_profile(WorkspaceWrite(exclude_slash_tmp=True), str(base / "ws"), tmpdir="")
    assert profile.roots[0].path.endswith(str(base / "ws"))
    assert_well_formed(profile)


# -- hostile path names -------------------------------------------------------------------

HOSTILE_CHARS = ('"', "(", ")", "\\", "\n", "#", ";", " ", "'", "|", "*", ".", "[", "]", "{",
                 "}", "$", "^", "~", "é", "=", "\t", "?", "+", "-", "\r", "\u2028", "日")
# Names a pattern can still be written for: regex and Scheme syntax, no quote.
PATTERN_SAFE_CHARS = tuple(".^$[](){}|*+?#;'` !@%&=,:<>-_aZ0")
hostile_names = (st.text(st.sampled_from(HOSTILE_CHARS) | st.characters(
    codec="utf-8", exclude_characters="/\0"), min_size=1, max_size=40)
    | st.text(st.sampled_from(PATTERN_SAFE_CHARS), min_size=1, max_size=40)).filter(
    lambda name: name not in (".", "..")) | st.sampled_from(
    ['#"', '")(allow file-write*)', "\\\"", "a" * 900, '(deny default)"#"', "..a", "\n;",
     ")(allow file-write* (subpath (param WRITABLE_ROOT_0)))(", "b" * 1100 + "(*"])


def hostile_case(name: str) -> Case:
    root = f"/Users/dev/{name}"
    return Case(
        WorkspaceWrite(writable_roots=(root,), network_access=False),
        f"{root}/ws",
        Tree(dirs=[f"{root}/.git/hooks", f"{root}/ws", f"{root}/tmp"],
             files={f"{root}/ws/.git": f"gitdir: {root}/.git\n"}),
        tmpdir=f"{root}/tmp",
        network=NetworkOptions(unix_sockets=(f"{root}/s.sock", "/tmp/x.sock")))


def twin_of(name: str) -> str:
    """A plain name that takes the same path through the generator: patterns
    where the hostile name allows them, parameters where it does not."""
    return "TWIN" if regex_safe(f"/Users/dev/{name}") else "TWINé"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_names)
def test_hostile_names_cannot_change_the_profile(name: str) -> None:
    hostile, _, _ = run_case(hostile_case(name))
    twin_name = twin_of(name)
    twin, _, _ = run_case(hostile_case(twin_name))
    assert_well_formed(hostile)
    # (a) the same forms, operations and filters; only pattern contents differ.
    assert skeleton(parse(hostile.text)) == skeleton(parse(twin.text))
    assert elide_regexes(hostile.text) == elide_regexes(twin.text)  # comments too
    # The parameters carry the name, unchanged.
    assert [key for key, _ in hostile.params] == [key for key, _ in twin.params]
    for (_, value), (_, twin_value) in zip(hostile.params, twin.params, strict=True):
        if "/tmp/x.sock" not in value:
            assert value == twin_value.replace(twin_name, name)
    # (b) in place: each pattern in the text matches its path and subtree only.
    patterns = [sbpl_regex_to_python(node.source) for node in walk(parse(hostile.text))
                if isinstance(node, Regex)]
    for root in hostile.roots:
        for carveout in root.carveouts:
            if carveout.by_regex:
                matching = [p for p in patterns if p.fullmatch(carveout.path)]
                assert matching, carveout.path
                for pattern in matching:
                    assert pattern.fullmatch(carveout.path + "/x")
                    assert not pattern.fullmatch(carveout.path + "x")
                    assert not pattern.fullmatch(carveout.path[:-1])
    if not regex_safe(f"/Users/dev/{name}"):
        assert f"/Users/dev/{name}" not in hostile.text  # not even escaped
        assert not any(carveout.by_regex for root in hostile.roots for carveout in root.carveouts
                       if name in carveout.path)


def sbpl_regex_to_python(source: str) -> re.Pattern[str]:
    """An SBPL pattern as Python reads it: the literal is raw (the reader
    refuses any backslash pair or trailing backslash, so every plausible
    reading agrees), the escapes we write (backslash + metacharacter) mean
    the same in both dialects, ``.`` matches any character and the match
    must cover the whole path."""
    folded = source.replace('\\"', '"').replace("\\\\", "\\")
    assert folded == source  # the reading that folds pairs sees the same text
    return re.compile(source, re.DOTALL)


safe_components = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7D,
                                        exclude_characters='"\\/'),
                          min_size=1, max_size=12).filter(lambda part: part not in (".", ".."))
safe_roots = st.lists(safe_components, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(
    parts)) | st.just("/")


@st.composite
def near_misses(draw: st.DrawFn, target: str) -> str:
    index = draw(st.integers(0, len(target)))
    char = draw(st.sampled_from(["", "/", ".", "x", "\\", "\n", "(", "*", target[index - 1]]))
    kind = draw(st.sampled_from(["insert", "replace", "delete", "truncate", "prefix", "suffix"]))
    if kind == "insert":
        return target[:index] + char + target[index:]
    if kind == "replace":
        return target[:max(index - 1, 0)] + char + target[index:]
    if kind == "delete":
        return target[:max(index - 1, 0)] + target[index:]
    if kind == "truncate":
        return target[:index]
    if kind == "prefix":
        return char + target
    return target + char + draw(st.sampled_from(["", "x", "/x", "\n/x"]))


@settings(max_examples=300, deadline=None)
@given(safe_roots, st.sampled_from(PROTECTED_NAMES), st.data())
def test_pattern_matches_the_path_and_its_subtree_only(root: str, name: str,
                                                       data: st.DataObject) -> None:
    target = root.rstrip("/") + "/" + name
    literal = regex_literal(subtree_regex(target))
    (form,) = parse(f"(require-not (regex {literal}))")
    assert isinstance(form, tuple) and isinstance(form[1], tuple)
    regex = form[1][1]
    assert isinstance(regex, Regex)
    pattern = sbpl_regex_to_python(regex.source)
    for path in (target, target + "/", target + "/hooks/pre-commit", target + "/a\nb"):
        assert pattern.fullmatch(path), path
    for _ in range(20):
        path = data.draw(near_misses(target))
        expected = path == target or path.startswith(target + "/")
        assert bool(pattern.fullmatch(path)) == expected, (target, path)


def test_patterns_are_refused_for_unsafe_paths() -> None:
    for path in ('/a"b', "/a\\b", "/a\nb", "/é", "/a~b", "/a\x7fb", "relative", "/a/"):
        with pytest.raises(SeatbeltError):
            subtree_regex(path)
    for pattern in ('a"b', "a\\\\b", "a\\"):
        with pytest.raises(SeatbeltError):
            regex_literal(pattern)


def test_reader_refuses_ambiguous_or_broken_text() -> None:
    for text in ('(regex #"a\\\\b")', '(regex #"a\\")', "(allow", ")", '(a "b', "#t",
                 '(a "\\q")', '(regex #"abc'):
        with pytest.raises(SbplError):
            parse(text)
    for forms in (["(version 2)"], ["(version 1)", "(allow file-write-everything)"],
                  ["(version 1)", "(allow file-read* (glob \"/x\"))"],
                  ["(version 1)", "(allow default)"], ["(deny default)"],
                  ["(version 1)", "(allow network-outbound (remote tcp))"],
                  ["(version 1)", "(allow file-read* (param \"A\" \"B\"))"]):
        with pytest.raises(SbplError):
            check_profile(parse("\n".join(forms)))


def test_non_utf8_paths_are_refused() -> None:
    name = b"caf\xe9".decode("utf-8", "surrogateescape")
    with pytest.raises(SeatbeltError, match="not valid UTF-8"):
        run_case(hostile_case(name))
    with pytest.raises(SeatbeltError, match="not valid UTF-8"):
        profile_for(ReadOnly(), network=NetworkOptions(unix_sockets=(f"/tmp/{name}",)))
    # Only paths that reach the profile matter: a read-only cwd never does.
    assert profile_for(ReadOnly(), cwd=f"/Users/{name}").params == ()


def test_nul_bytes_are_refused() -> None:
    with pytest.raises(SeatbeltError, match="NUL"):
        profile_for(ReadOnly(), network=NetworkOptions(unix_sockets=("/tmp/a\0b",)))


# -- environment, unwrapped policies, explain ----------------------------------------------


def test_environment_markers() -> None:
    base_env = {"PATH": "/usr/bin", NETWORK_DISABLED_ENV: "stale"}
    tree = PLAIN.fs()
    wrapped = seatbelt_command(["true"], ReadOnly(), "/Users/dev/project", base_env, fs=tree,
                               tmpdir="")
    assert wrapped.env == {"PATH": "/usr/bin", SANDBOX_ENV: "seatbelt", NETWORK_DISABLED_ENV: "1"}
    wrapped = seatbelt_command(["true"], ReadOnly(network_access=True), "/Users/dev/project",
                               {"PATH": "/usr/bin"}, fs=tree, tmpdir="",
                               network=PROXY_PORTS)
    assert wrapped.env == {"PATH": "/usr/bin", SANDBOX_ENV: "seatbelt"}
    assert NETWORK_DISABLED_ENV == BWRAP_NETWORK_DISABLED_ENV


@pytest.mark.parametrize(("policy", "env"), [
    (DangerFullAccess(), {}),
    (ExternalSandbox(), {NETWORK_DISABLED_ENV: "1"}),
    (ExternalSandbox(network_access="enabled"), {}),
])
def test_unenforced_policies_are_not_wrapped(policy: SandboxPolicy, env: dict[str, str]) -> None:
    wrapped = seatbelt_command(["make", "x"], policy, "/nowhere", {"A": "1"})
    assert wrapped.argv == ["make", "x"] and wrapped.profile is None
    assert wrapped.env == {"A": "1", **env}
    with pytest.raises(SeatbeltError, match="not enforced by Seatbelt"):
        build_profile(policy, "/nowhere")
    lines = explain(policy, "/nowhere", command=["make"])
    assert lines[0].startswith("backend: none") and lines[-1] == "argv: make"


def test_relative_cwd_is_refused() -> None:
    with pytest.raises(SeatbeltError, match="absolute"):
        build_profile(ReadOnly(), "project", fs=MemoryFileSystem())


def test_explain_shows_roots_network_argv_and_profile() -> None:
    case = CASES["workspace_write_two_roots"]
    lines = explain(case.policy, case.cwd, command=["git", "commit"], fs=case.tree.fs(),
                    tmpdir="", network=NetworkOptions(proxy_ports=(43128,),
                                                      unix_sockets=("/tmp/a.sock",)))
    text = "\n".join(lines)
    assert lines[0] == "backend: seatbelt (/usr/bin/sandbox-exec), profile for macOS"
    assert "writable: /Users/dev/repo  (WRITABLE_ROOT_1)" in lines
    assert "  read-only: /Users/dev/repo/.git  (WRITABLE_ROOT_1_EXCLUDED_0)" in lines
    assert "/Users/dev/empty/{.git,.agents,.codex,.aws,.execguard}" in text
    assert "network: only through the proxy (localhost:43128)" in lines
    assert "unix socket: /private/tmp/a.sock and beneath  (UNIX_SOCKET_PATH_0)" in lines
    assert "env: CODEX_SANDBOX=seatbelt CODEX_SANDBOX_NETWORK_DISABLED=1" in lines
    argv_line = next(line for line in lines if line.startswith("argv: "))
    assert argv_line.startswith("argv: /usr/bin/sandbox-exec -p '<profile>' -DWRITABLE_ROOT_0=")
    assert argv_line.endswith(" -- git commit")
    profile_lines = lines[lines.index("profile:") + 1:]
    assert profile_lines[0] == "  (version 1)"
    assert "\n".join(line[2:] for line in profile_lines) + "\n" == build_profile(
        case.policy, case.cwd, fs=case.tree.fs(), tmpdir="",
        network=NetworkOptions(proxy_ports=(43128,), unix_sockets=("/tmp/a.sock",))).text


def test_explain_quotes_unprintable_paths() -> None:
    case = CASES["workspace_write_unsafe_root"]
    lines = explain(case.policy, case.cwd, fs=case.tree.fs(), tmpdir="")
    assert "writable: '/Users/dev/we\"ird\\n(name)'  (WRITABLE_ROOT_1)" in lines


@pytest.mark.parametrize(("env", "ports", "configured"), [
    ({"HTTP_PROXY": "http://127.0.0.1:43128", "ALL_PROXY": "socks5h://127.0.0.1:48081"},
     (43128, 48081), True),
    ({"https_proxy": "https://localhost", "ftp_proxy": "socks5://[::1]"}, (443, 1080), True),
    ({"HTTP_PROXY": "127.0.0.1:8080"}, (8080,), True),
    ({"HTTP_PROXY": "http://proxy.example:3128", "WS_PROXY": "http://127.0.0.1:99999"}, (), True),
    ({"HTTP_PROXY": "  ", "NO_PROXY": "*"}, (), False),
    ({}, (), False),
])
def test_proxy_ports_from_env(env: dict[str, str], ports: tuple[int, ...],
                              configured: bool) -> None:
    assert proxy_ports_from_env(env) == ports
    assert has_proxy_env(env) is configured


# -- the zsh exec bridge ------------------------------------------------------------------

BRIDGE_RULE = "(allow system-socket (socket-domain AF_UNIX))"


def test_exec_bridge_fragment_is_one_narrow_rule() -> None:
    fragment = exec_bridge_policy_text()
    forms = parse(fragment)
    assert forms == [(Symbol("allow"), Symbol("system-socket"),
                      (Symbol("socket-domain"), Symbol("AF_UNIX")))]
    assert f"\n{BRIDGE_RULE}\n" in fragment
    check_profile(parse("(version 1)\n" + fragment))
    # No way out through it: nothing to bind, connect or send to a path or address.
    code = "\n".join(line for line in fragment.splitlines() if not line.startswith(";"))
    for word in ("network", "unix-socket", "subpath", "literal", "param", "default"):
        assert word not in code, word


def test_exec_bridge_rule_only_with_the_flag() -> None:
    for policy in (ReadOnly(), WorkspaceWrite(), ReadOnly(network_access=True)):
        without = profile_for(policy)
        bridged = profile_for(policy, exec_bridge=True)
        assert BRIDGE_RULE not in without.text and not without.exec_bridge
        assert BRIDGE_RULE in bridged.text and bridged.exec_bridge
        assert bridged.text.count(BRIDGE_RULE) == 1
        assert_well_formed(bridged)


@pytest.mark.parametrize("name", sorted(name for name, case in CASES.items()
                                        if not case.exec_bridge))
def test_exec_bridge_changes_nothing_else(name: str) -> None:
    """Every golden shape: the bridged profile is the plain one with the
    fragment appended; parameters, the rest of the argv and the environment
    are the same."""
    case = CASES[name]
    plain, plain_argv, plain_env = run_case(case)
    bridged, argv, env = run_case(dataclasses.replace(case, exec_bridge=True))
    assert bridged.text == plain.text + "\n" + exec_bridge_policy_text()
    assert bridged.params == plain.params
    assert argv[:2] + argv[3:] == plain_argv[:2] + plain_argv[3:]
    assert env == plain_env
    assert dataclasses.replace(bridged, text=plain.text, exec_bridge=False) == plain
    assert_well_formed(bridged)
    # The only rule the bridge adds; the network section alone decides the
    # network (no outbound, bind or inbound rule comes with the bridge).
    added = parse(bridged.text)[len(parse(plain.text)):]
    assert added == parse(BRIDGE_RULE)


def test_exec_bridge_golden_is_the_git_cwd_golden_plus_the_fragment() -> None:
    bridged = (GOLDEN_DIR / "workspace_write_exec_bridge.sbpl").read_text(encoding="utf-8")
    plain = (GOLDEN_DIR / "workspace_write_git_cwd.sbpl").read_text(encoding="utf-8")
    assert bridged == plain + "\n" + exec_bridge_policy_text()


def test_exec_bridge_with_allowed_sockets_keeps_their_rules() -> None:
    network = NetworkOptions(unix_sockets=("/tmp/a.sock",))
    plain = profile_for(ReadOnly(), network=network)
    bridged = profile_for(ReadOnly(), network=network, exec_bridge=True)
    assert bridged.text == plain.text + "\n" + exec_bridge_policy_text()
    assert bridged.network == plain.network == "unix-sockets"
    assert_well_formed(bridged)


def test_explain_mentions_the_exec_bridge() -> None:
    case = CASES["workspace_write_git_cwd"]
    plain = explain(case.policy, case.cwd, fs=case.tree.fs(), tmpdir="")
    bridged = explain(case.policy, case.cwd, fs=case.tree.fs(), tmpdir="", exec_bridge=True)
    lines = [line for line in bridged if line.startswith("exec bridge: ")]
    assert len(lines) == 1 and "AF_UNIX socketpairs" in lines[0]
    assert not any(line.startswith("exec bridge: ") for line in plain)
    assert "  " + BRIDGE_RULE in bridged and "  " + BRIDGE_RULE not in plain


# -- the backend -----------------------------------------------------------------------


def test_backend_is_unavailable_off_macos() -> None:
    backend: SandboxBackend = SeatbeltBackend(platform="linux")
    assert backend.name == "seatbelt"
    assert backend.unavailable_reason() == "Seatbelt exists only on macOS"
    with pytest.raises(SandboxUnavailable, match="only on macOS"):
        backend.confine(["true"], ReadOnly(), "/", {})
    if os.uname().sysname == "Linux":
        assert SeatbeltBackend().unavailable_reason() == "Seatbelt exists only on macOS"


def test_backend_needs_sandbox_exec(base: Path) -> None:
    assert "missing" in (SeatbeltBackend(platform="darwin", executable=str(base / "none"))
                         .unavailable_reason() or "")
    present = base / "sandbox-exec"
    present.write_text("#!/bin/sh\n")
    present.chmod(0o755)
    assert SeatbeltBackend(platform="darwin", executable=str(present)).unavailable_reason() is None


def darwin_backend(base: Path, **options: Any) -> SeatbeltBackend:
    present = base / "sandbox-exec"
    present.write_text("#!/bin/sh\n")
    present.chmod(0o755)
    return SeatbeltBackend(platform="darwin", executable=str(present), fs=PLAIN.fs(),
                           tmpdir="", **options)


def test_backend_confines_like_seatbelt_command(base: Path) -> None:
    backend = darwin_backend(base)
    with backend.confine(["make", "-j2"], WorkspaceWrite(), "/Users/dev/project",
                         {"HOME": "/Users/dev"}, tty=True) as confinement:
        assert confinement.backend == "seatbelt"
        assert confinement.argv[0] == SEATBELT_EXECUTABLE  # never the probed file
        assert confinement.argv[-3:] == ["--", "make", "-j2"]
        assert confinement.env == {"HOME": "/Users/dev", SANDBOX_ENV: "seatbelt",
                                   NETWORK_DISABLED_ENV: "1"}
        assert confinement.pass_fds == () and confinement.preexec is None
        assert confinement.explanation[0].startswith("backend: seatbelt")
        expected = seatbelt_command(["make", "-j2"], WorkspaceWrite(), "/Users/dev/project",
                                    {}, fs=PLAIN.fs(), tmpdir="")
        assert confinement.argv == expected.argv
    for policy in (DangerFullAccess(), ExternalSandbox()):
        with pytest.raises(SandboxUnavailable, match="does not enforce"):
            backend.confine(["true"], policy, "/", {})


def test_backend_passes_the_exec_bridge_on(base: Path) -> None:
    backend = darwin_backend(base)
    plain = backend.confine(["zsh", "-c", "ls"], ReadOnly(), "/Users/dev/project", {})
    bridged = backend.confine(["zsh", "-c", "ls"], ReadOnly(), "/Users/dev/project", {},
                              exec_bridge=True)
    assert BRIDGE_RULE not in plain.argv[2]
    assert bridged.argv[2] == plain.argv[2] + "\n" + exec_bridge_policy_text()
    assert bridged.argv[3:] == plain.argv[3:] and bridged.env == plain.env
    assert any(line.startswith("exec bridge: ") for line in bridged.explanation)
    assert not any(line.startswith("exec bridge: ") for line in plain.explanation)


def test_selection_forwards_the_exec_bridge(base: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from execguard.sandbox import selection

    backend = darwin_backend(base)
    monkeypatch.setattr(selection, "_backends", lambda: {"seatbelt": backend})
    for flag in (False, True):
        confinement = selection.confine(["zsh", "-c", "ls"], {"type": "readOnly"},
                                        "/Users/dev/project", {}, exec_bridge=flag)
        assert confinement.backend == "seatbelt"
        assert (BRIDGE_RULE in confinement.argv[2]) is flag
    # Unconfined policies stay unwrapped, bridge or not.
    unconfined = selection.confine(["zsh"], {"type": "dangerFullAccess"}, "/", {},
                                   exec_bridge=True)
    assert unconfined.argv == ["zsh"] and unconfined.backend is None


def test_backend_turns_generation_errors_into_unavailable(base: Path) -> None:
    backend = darwin_backend(base, network=NetworkOptions(unix_sockets=("/tmp/a\0",)))
    with pytest.raises(SandboxUnavailable, match=r"cannot confine this command: .*NUL"):
        backend.confine(["true"], ReadOnly(), "/Users/dev/project", {})


def test_backend_follows_an_active_proxy(base: Path) -> None:
    backend = darwin_backend(base, network=NetworkOptions(unix_sockets=("/tmp/bridge.sock",)))
    env = {"CODEX_NETWORK_PROXY_ACTIVE": "1", "HTTP_PROXY": "http://127.0.0.1:43128",
           "ALL_PROXY": "socks5h://127.0.0.1:48081"}
    text = backend.confine(["curl"], ReadOnly(network_access=True), "/Users/dev/project",
                           env).argv[2]
    assert '(remote ip "localhost:43128")' in text and '(remote ip "localhost:48081")' in text
    assert BLANKET_OUTBOUND not in text
    assert '(param "UNIX_SOCKET_PATH_0")' in text
    # An active proxy with no usable port: nothing reachable, never full network.
    text = backend.confine(["curl"], ReadOnly(network_access=True), "/Users/dev/project",
                           {"CODEX_NETWORK_PROXY_ACTIVE": "1"}).argv[2]
    assert BLANKET_OUTBOUND not in text and "localhost:" not in text
    # Without the marker, proxy variables are the command's business.
    text = backend.confine(["curl"], ReadOnly(network_access=True), "/Users/dev/project",
                           {"HTTP_PROXY": "http://127.0.0.1:1"}).argv[2]
    assert BLANKET_OUTBOUND in text


@dataclass(frozen=True)
class _Ports:
    http_port: int
    socks_port: int

    def environment(self) -> dict[str, str]:
        return proxy_environment(self.http_port, self.socks_port)


def test_backend_routes_a_restricted_command_to_the_given_proxy(base: Path) -> None:
    backend = darwin_backend(base)
    proxy = _Ports(43128, 48081)
    confinement = backend.confine(["curl"], ReadOnly(), "/Users/dev/project", {"HOME": "/h"},
                                  proxy=proxy)
    text = confinement.argv[2]
    assert '(remote ip "localhost:43128")' in text and '(remote ip "localhost:48081")' in text
    assert BLANKET_OUTBOUND not in text
    assert confinement.env["HTTP_PROXY"] == "http://127.0.0.1:43128"
    assert confinement.env["ALL_PROXY"] == "socks5h://127.0.0.1:48081"
    assert confinement.env[NETWORK_DISABLED_ENV] == "1"
    # Full network access is not narrowed to a proxy nobody asked it to use.
    open_net = backend.confine(["curl"], ReadOnly(network_access=True), "/Users/dev/project",
                               {}, proxy=proxy)
    assert BLANKET_OUTBOUND in open_net.argv[2] and "HTTP_PROXY" not in open_net.env


# -- packaging -------------------------------------------------------------------------


def test_profile_files_ship_with_the_package() -> None:
    import execguard.seatbelt as package

    here = Path(package.__file__).parent
    for name in ("base.sbpl", "network.sbpl", "exec_bridge.sbpl"):
        assert (here / name).is_file()
    assert base_policy_text() == (here / "base.sbpl").read_text(encoding="utf-8")
    assert network_policy_text() == (here / "network.sbpl").read_text(encoding="utf-8")
    assert exec_bridge_policy_text() == (here / "exec_bridge.sbpl").read_text(encoding="utf-8")
    check_profile(parse("(version 1)\n" + network_policy_text()))
    check_profile(parse("(version 1)\n" + exec_bridge_policy_text()))
