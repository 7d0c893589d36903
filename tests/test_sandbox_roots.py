"""Writable roots and protected metadata (roots.py), and the policy models
(policy.py): unit and property tests on real directory trees, no sandbox.

The trees live under ``/var/tmp``: pytest's ``tmp_path`` is under ``/tmp``,
itself a writable root, which would blur what comes from where.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execguard.sandbox import (
    PROTECTED_NAMES,
    DangerFullAccess,
    ExternalSandbox,
    PolicyError,
    ReadOnly,
    SandboxPolicy,
    WorkspaceWrite,
    WritableRoot,
    network_restricted,
    parse_policy,
    policy_json,
    resolve_writable_roots,
)

NO_TMP = {"exclude_slash_tmp": True, "exclude_tmpdir_env_var": True}


@pytest.fixture
def base() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="execguard-roots-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_dirs(base: Path, *names: str) -> list[Path]:
    paths = [base / name for name in names]
    for path in paths:
        path.mkdir(parents=True)
    return paths


def paths(roots: list[WritableRoot]) -> list[str]:
    return [root.path for root in roots]


def names_under(root: str) -> list[str]:
    return [os.path.join(root, name) for name in PROTECTED_NAMES]


def by_path(roots: list[WritableRoot]) -> dict[str, WritableRoot]:
    return {root.path: root for root in roots}


# -- which roots, in which order -------------------------------------------------------


def test_protected_names() -> None:
    # The reference's three, the .aws its 0.169 binary adds, and our own.
    assert PROTECTED_NAMES == (".git", ".agents", ".codex", ".aws", ".execguard")


def test_order_cwd_entries_tmp_then_tmpdir(base: Path) -> None:
    ws, rel, extra, tmpdir = make_dirs(base, "ws", "ws/rel", "extra", "tmpdir")
    policy = WorkspaceWrite(writable_roots=("rel", str(extra), "./rel", "../ws", str(extra) + "/"))
    roots = resolve_writable_roots(policy, str(ws), tmpdir=str(tmpdir))
    assert paths(roots) == [str(ws), str(rel), str(extra), "/tmp", str(tmpdir)]
    assert [root.temporary for root in roots] == [False, False, False, True, True]


@pytest.mark.parametrize(("slash_tmp", "tmpdir_var", "expected"), [
    (False, False, ["ws", "/tmp", "tmpdir"]),
    (True, False, ["ws", "tmpdir"]),
    (False, True, ["ws", "/tmp"]),
    (True, True, ["ws"]),
])
def test_excludes(base: Path, slash_tmp: bool, tmpdir_var: bool, expected: list[str]) -> None:
    ws, tmpdir = make_dirs(base, "ws", "tmpdir")
    policy = WorkspaceWrite(exclude_slash_tmp=slash_tmp, exclude_tmpdir_env_var=tmpdir_var)
    roots = resolve_writable_roots(policy, str(ws), tmpdir=str(tmpdir))
    assert paths(roots) == [name if name.startswith("/") else str(base / name)
                            for name in expected]


def test_tmpdir_defaults_to_the_environment(base: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws, tmpdir = make_dirs(base, "ws", "tmpdir")
    policy = WorkspaceWrite(exclude_slash_tmp=True)
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    assert paths(resolve_writable_roots(policy, str(ws))) == [str(ws), str(tmpdir)]
    monkeypatch.setenv("TMPDIR", "")
    assert paths(resolve_writable_roots(policy, str(ws))) == [str(ws)]
    monkeypatch.delenv("TMPDIR")
    assert paths(resolve_writable_roots(policy, str(ws))) == [str(ws)]
    # An explicit argument wins over the environment.
    monkeypatch.setenv("TMPDIR", "/nonexistent")
    assert paths(resolve_writable_roots(policy, str(ws), tmpdir=str(tmpdir))) == [
        str(ws), str(tmpdir)]


def test_duplicates_keep_the_first_and_its_flag(base: Path) -> None:
    (ws,) = make_dirs(base, "ws")
    # $TMPDIR is /tmp: one root. The cwd is $TMPDIR: not temporary.
    roots = resolve_writable_roots(WorkspaceWrite(), str(ws), tmpdir="/tmp/")
    assert paths(roots) == [str(ws), "/tmp"]
    roots = resolve_writable_roots(WorkspaceWrite(), str(ws), tmpdir=str(ws))
    assert paths(roots) == [str(ws), "/tmp"]
    assert [root.temporary for root in roots] == [False, True]
    roots = resolve_writable_roots(WorkspaceWrite(writable_roots=("/tmp",)), str(ws))
    assert [(root.path, root.temporary) for root in roots][:2] == [(str(ws), False),
                                                                    ("/tmp", False)]
    roots = resolve_writable_roots(WorkspaceWrite(), "/tmp", tmpdir=str(ws))
    assert [(root.path, root.temporary) for root in roots] == [("/tmp", False),
                                                               (str(ws), True)]


def test_nonexistent_roots_are_skipped(base: Path) -> None:
    ws, extra = make_dirs(base, "ws", "extra")
    policy = WorkspaceWrite(writable_roots=("missing", "/nonexistent/deeper", str(extra),
                                            "dangling"), **NO_TMP)
    (ws / "dangling").symlink_to(base / "nowhere")
    assert paths(resolve_writable_roots(policy, str(ws))) == [str(ws), str(extra)]
    roots = resolve_writable_roots(WorkspaceWrite(exclude_slash_tmp=True), str(base / "gone"),
                                   tmpdir=str(base / "gone-too"))
    assert roots == []


def test_roots_are_canonical(base: Path) -> None:
    ws, real, other = make_dirs(base, "real-ws", "real", "holder/other")
    (base / "ws").symlink_to(ws)
    (base / "holder" / "link").symlink_to(real)
    (base / "chain").symlink_to(base / "holder" / "link")
    policy = WorkspaceWrite(writable_roots=(
        str(base / "holder" / "link"),  # a symlink to a directory
        "../chain",                     # a chain of them, relative to the cwd's path
        str(other) + "/../other/.",     # dots
        "../holder//other",             # doubled slashes
    ), **NO_TMP)
    roots = resolve_writable_roots(policy, str(base / "ws"))
    assert paths(roots) == [str(ws), str(real), str(other)]
    for root in roots:
        assert root.path == os.path.realpath(root.path)
        assert root.read_only == tuple(names_under(root.path))


def test_relative_entries_resolve_against_the_cwd_path(base: Path) -> None:
    """``..`` in an entry is taken lexically from the cwd as given, before
    symlinks are resolved."""
    real_ws, sibling = make_dirs(base, "deep/real-ws", "sibling")
    (base / "ws").symlink_to(real_ws)
    policy = WorkspaceWrite(writable_roots=("../sibling",), **NO_TMP)
    assert paths(resolve_writable_roots(policy, str(base / "ws"))) == [str(real_ws),
                                                                         str(sibling)]


def test_a_file_can_be_a_root(base: Path) -> None:
    (ws,) = make_dirs(base, "ws")
    (ws / "notes.txt").write_text("")
    roots = resolve_writable_roots(WorkspaceWrite(writable_roots=("notes.txt",), **NO_TMP),
                                   str(ws))
    assert roots[1] == WritableRoot(str(ws / "notes.txt"), (), False)


# -- what stays read-only ----------------------------------------------------------------


def test_protected_names_for_every_root_existing_or_not(base: Path) -> None:
    ws, extra, tmpdir = make_dirs(base, "ws", "extra", "tmpdir")
    make_dirs(base, "ws/.git", "extra/.codex", "tmpdir/.aws")
    roots = resolve_writable_roots(WorkspaceWrite(writable_roots=(str(extra),)), str(ws),
                                   tmpdir=str(tmpdir))
    assert paths(roots) == [str(ws), str(extra), "/tmp", str(tmpdir)]
    for root in roots:
        if root.path == "/tmp":  # shared with everyone: only the names are certain
            assert root.read_only[:1] == ("/tmp/.git",)
            assert set(names_under("/tmp")) <= set(root.read_only)
        else:
            assert root.read_only == tuple(names_under(root.path))


def test_explicit_grant_lifts_the_protection(base: Path) -> None:
    (ws,) = make_dirs(base, "ws")
    make_dirs(base, "ws/.git/hooks", "ws/.agents")
    policy = WorkspaceWrite(writable_roots=(".git", str(ws / ".agents")), **NO_TMP)
    roots = by_path(resolve_writable_roots(policy, str(ws)))
    assert list(roots) == [str(ws), str(ws / ".git"), str(ws / ".agents")]
    assert roots[str(ws)].read_only == (str(ws / ".codex"), str(ws / ".aws"),
                                        str(ws / ".execguard"))
    # A granted directory is a root like any other, with names of its own.
    assert roots[str(ws / ".git")].read_only == tuple(names_under(str(ws / ".git")))


def test_grant_of_a_missing_name_protects_nothing_less(base: Path) -> None:
    (ws,) = make_dirs(base, "ws")
    policy = WorkspaceWrite(writable_roots=(".codex",), **NO_TMP)
    assert resolve_writable_roots(policy, str(ws)) == [
        WritableRoot(str(ws), tuple(names_under(str(ws))), False)]


def test_grant_of_a_subdirectory_keeps_the_name_protected(base: Path) -> None:
    (ws,) = make_dirs(base, "ws")
    make_dirs(base, "ws/.git/hooks")
    policy = WorkspaceWrite(writable_roots=(".git/hooks",), **NO_TMP)
    roots = by_path(resolve_writable_roots(policy, str(ws)))
    assert str(ws / ".git") in roots[str(ws)].read_only


@pytest.mark.parametrize("style", ["relative", "absolute", "crlf and spaces"])
def test_git_file_adds_its_gitdir(base: Path, style: str) -> None:
    tree, gitdir = make_dirs(base, "tree", "main/.git/worktrees/tree")
    target = {"relative": "../main/.git/worktrees/tree", "absolute": str(gitdir),
              "crlf and spaces": f"  {gitdir}  \r"}[style]
    (tree / ".git").write_text(f"gitdir: {target}\n")
    roots = resolve_writable_roots(WorkspaceWrite(**NO_TMP), str(tree))
    assert roots[0].read_only == (str(tree / ".git"), str(gitdir), *names_under(str(tree))[1:])


def test_git_file_without_a_usable_gitdir(base: Path) -> None:
    (tree,) = make_dirs(base, "tree")
    for text in ("gitdir: ../missing\n", "not a pointer\n", "gitdir:\n", ""):
        (tree / ".git").write_text(text)
        roots = resolve_writable_roots(WorkspaceWrite(**NO_TMP), str(tree))
        assert roots[0].read_only == tuple(names_under(str(tree))), text


def test_gitdir_of_a_worktree_inside_a_granted_main_repository(base: Path) -> None:
    """Granting the main repository's .git does not lift the protection of
    a worktree's gitdir inside it (as in the reference)."""
    tree, main, gitdir = make_dirs(base, "tree", "main", "main/.git/worktrees/tree")
    (tree / ".git").write_text(f"gitdir: {gitdir}\n")
    policy = WorkspaceWrite(writable_roots=(str(main), str(main / ".git")), **NO_TMP)
    roots = by_path(resolve_writable_roots(policy, str(tree)))
    assert str(gitdir) in roots[str(tree)].read_only
    assert str(main / ".git") not in roots[str(main)].read_only


def test_protected_symlink_adds_its_target_inside_a_root(base: Path) -> None:
    ws, extra = make_dirs(base, "ws", "extra")
    make_dirs(base, "ws/decoy", "extra/sub", "outside")
    (ws / ".codex").symlink_to("decoy")
    (ws / ".agents").symlink_to(extra / "sub")  # into another root
    (ws / ".aws").symlink_to(base / "outside")  # outside every root: read-only anyway
    (ws / ".execguard").symlink_to("missing")  # dangling, target inside the root
    policy = WorkspaceWrite(writable_roots=(str(extra),), **NO_TMP)
    roots = resolve_writable_roots(policy, str(ws))
    assert roots[0].read_only == (
        str(ws / ".git"),
        str(ws / ".agents"), str(extra / "sub"),
        str(ws / ".codex"), str(ws / "decoy"),
        str(ws / ".aws"),
        str(ws / ".execguard"), str(ws / "missing"),
    )


def test_temporary_only_for_tmp_and_tmpdir(base: Path) -> None:
    ws, extra, tmpdir = make_dirs(base, "ws", "extra", "tmpdir")
    roots = resolve_writable_roots(WorkspaceWrite(writable_roots=(str(extra),)), str(ws),
                                   tmpdir=str(tmpdir))
    assert {root.path: root.temporary for root in roots} == {
        str(ws): False, str(extra): False, "/tmp": True, str(tmpdir): True}


# -- property ----------------------------------------------------------------------------

# A tree (made once; hypothesis does not mix with function-scoped fixtures):
# directories, a file, symlinks, protected names that are symlinks and a
# .git file, all pointing inside their own root.
_TREE_ENTRIES = ["a", "a/nested", "a/decoy", "b", "b/gd", "c", "c/.git", "c/.codex"]
_CANDIDATES = ["a", "a/nested", "b", "c", "c/.git", "c/.codex", "file", "link-a", "chain",
               "dangling", "missing", "a/../b", "./a/nested/..", "link-a/nested", "b/gd",
               "a/decoy", "."]


@pytest.fixture(scope="module")
def tree() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="execguard-roots-prop-", dir="/var/tmp"))
    make_dirs(root, *_TREE_ENTRIES)
    (root / "file").write_text("")
    (root / "link-a").symlink_to(root / "a")
    (root / "chain").symlink_to("link-a")
    (root / "dangling").symlink_to(root / "nowhere")
    (root / "a" / ".codex").symlink_to("decoy")
    (root / "b" / ".git").write_text("gitdir: gd\n")
    yield root
    shutil.rmtree(root, ignore_errors=True)


_entry = st.tuples(st.sampled_from(_CANDIDATES), st.booleans())


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(_entry, max_size=8), cwd=st.sampled_from(["a", "b", "c", "link-a"]),
       tmpdir=st.sampled_from([None, "b", "missing", "file"]), slash_tmp=st.booleans(),
       tmpdir_var=st.booleans())
def test_property_roots_are_real_unique_and_own_their_protected_paths(
        tree: Path, entries: list[tuple[str, bool]], cwd: str, tmpdir: str | None,
        slash_tmp: bool, tmpdir_var: bool) -> None:
    writable = tuple(str(tree / name) if absolute else os.path.join("..", name)
                     for name, absolute in entries)
    policy = WorkspaceWrite(writable_roots=writable, exclude_slash_tmp=slash_tmp,
                            exclude_tmpdir_env_var=tmpdir_var)
    roots = resolve_writable_roots(policy, str(tree / cwd),
                                   tmpdir="" if tmpdir is None else str(tree / tmpdir))
    found = paths(roots)
    assert len(found) == len(set(found))
    assert found[0] == os.path.realpath(tree / cwd)

    def real(path: str) -> str:
        return os.path.realpath(os.path.normpath(os.path.join(tree / cwd, path)))

    asked = {real(".")} | {real(entry) for entry in writable}
    temporary = set() if slash_tmp else {"/tmp"}
    if tmpdir is not None and not tmpdir_var:
        temporary.add(real(str(tree / tmpdir)))
    assert set(found) == {path for path in asked | temporary if os.path.exists(path)}
    for root in roots:
        assert os.path.exists(root.path)
        assert root.path == os.path.realpath(root.path)
        assert root.temporary == (root.path in temporary and root.path not in asked)
        assert len(root.read_only) == len(set(root.read_only))
        for protected in root.read_only:
            assert protected not in found  # a grant is never read-only
            if root.path != "/tmp":  # shared with everyone: contents unknown
                assert protected.startswith(root.path + "/"), (root.path, protected)
        if os.path.isdir(root.path):
            names = [path for path in names_under(root.path) if path not in found]
            assert [path for path in root.read_only if path in names_under(root.path)] == names
        else:
            assert root.read_only == ()
    if not slash_tmp:
        assert "/tmp" in found


# -- policy.py ---------------------------------------------------------------------------


@pytest.mark.parametrize(("wire", "model"), [
    ({"type": "dangerFullAccess"}, DangerFullAccess()),
    ({"type": "readOnly"}, ReadOnly(network_access=False)),
    ({"type": "readOnly", "networkAccess": True}, ReadOnly(network_access=True)),
    ({"type": "workspaceWrite"}, WorkspaceWrite()),
    ({"type": "workspaceWrite", "writableRoots": ["/data", "rel"], "networkAccess": True,
      "excludeTmpdirEnvVar": True, "excludeSlashTmp": True},
     WorkspaceWrite(writable_roots=("/data", "rel"), network_access=True,
                    exclude_tmpdir_env_var=True, exclude_slash_tmp=True)),
    ({"type": "externalSandbox"}, ExternalSandbox(network_access="restricted")),
    ({"type": "externalSandbox", "networkAccess": "enabled"},
     ExternalSandbox(network_access="enabled")),
    # Python names are accepted too; unknown fields are ignored.
    ({"type": "workspaceWrite", "writable_roots": ["/x"], "network_access": True, "junk": 1},
     WorkspaceWrite(writable_roots=("/x",), network_access=True)),
])
def test_parse_policy_accepts_wire_json(wire: dict[str, object], model: SandboxPolicy) -> None:
    assert parse_policy(wire) == model


def test_parse_policy_returns_models_as_they_are() -> None:
    for model in (DangerFullAccess(), ReadOnly(), WorkspaceWrite(), ExternalSandbox()):
        assert parse_policy(model) is model


@pytest.mark.parametrize(("value", "message"), [
    ({"type": "bogus"}, "Input tag 'bogus' found using 'type' does not match"),
    ({}, "Unable to extract tag using discriminator 'type'"),
    ({"type": "workspaceWrite", "writableRoots": [1]},
     "workspaceWrite.writableRoots.0: Input should be a valid string"),
    ({"type": "workspaceWrite", "writableRoots": "/x"},
     "workspaceWrite.writableRoots: Input should be a valid tuple"),
    ({"type": "workspaceWrite", "excludeSlashTmp": 1},
     "workspaceWrite.excludeSlashTmp: Input should be a valid boolean"),
    ({"type": "workspaceWrite", "networkAccess": "true"},
     "workspaceWrite.networkAccess: Input should be a valid boolean"),
    ({"type": "readOnly", "networkAccess": "yes"},
     "readOnly.networkAccess: Input should be a valid boolean"),
    ({"type": "externalSandbox", "networkAccess": True},
     "externalSandbox.networkAccess: Input should be 'restricted' or 'enabled'"),
    ("readOnly", "Input should be a valid dictionary"),
    (None, "Input should be a valid dictionary"),
    ([{"type": "readOnly"}], "Input should be a valid dictionary"),
])
def test_parse_policy_rejects_bad_shapes(value: object, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(value)
    assert str(caught.value).startswith("invalid sandbox policy: ")
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_several_problems_are_all_named() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy({"type": "workspaceWrite", "writableRoots": [1, "ok", 2],
                      "networkAccess": "no"})
    text = str(caught.value)
    for field in ("writableRoots.0", "writableRoots.2", "networkAccess"):
        assert f"workspaceWrite.{field}:" in text
    assert "; " in text


@pytest.mark.parametrize("policy", [
    DangerFullAccess(), ReadOnly(), ReadOnly(network_access=True), WorkspaceWrite(),
    WorkspaceWrite(writable_roots=("/a", "b"), network_access=True, exclude_slash_tmp=True,
                   exclude_tmpdir_env_var=True),
    ExternalSandbox(), ExternalSandbox(network_access="enabled"),
])
def test_policy_json_round_trips(policy: SandboxPolicy) -> None:
    wire = policy_json(policy)
    assert parse_policy(wire) == policy
    assert wire["type"] == policy.type
    assert all("_" not in key for key in wire)  # camelCase on the wire


def test_policy_json_has_every_field() -> None:
    assert policy_json(WorkspaceWrite(writable_roots=("/a",))) == {
        "type": "workspaceWrite", "writableRoots": ["/a"], "networkAccess": False,
        "excludeTmpdirEnvVar": False, "excludeSlashTmp": False}
    assert policy_json(ReadOnly()) == {"type": "readOnly", "networkAccess": False}
    assert policy_json(ExternalSandbox()) == {"type": "externalSandbox",
                                              "networkAccess": "restricted"}
    assert policy_json(DangerFullAccess()) == {"type": "dangerFullAccess"}


def test_models_are_frozen() -> None:
    policy = WorkspaceWrite()
    with pytest.raises(ValueError, match="frozen"):
        policy.network_access = True  # type: ignore[misc]


@pytest.mark.parametrize(("policy", "restricted"), [
    (DangerFullAccess(), False),
    (ReadOnly(), True),
    (ReadOnly(network_access=True), False),
    (WorkspaceWrite(), True),
    (WorkspaceWrite(network_access=True), False),
    (ExternalSandbox(), True),
    (ExternalSandbox(network_access="enabled"), False),
])
def test_network_restricted(policy: SandboxPolicy, restricted: bool) -> None:
    assert network_restricted(policy) is restricted
