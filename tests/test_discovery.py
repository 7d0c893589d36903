"""Where rules files come from (execpolicy/discovery.py, spec §10.1)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from execguard.execpolicy import (
    Decision,
    RuleLayer,
    RulesDiscoveryError,
    append_prefix_rule,
    discover_rule_files,
    discovery,
    load_discovered_policy,
    user_rules_file,
)
from execguard.execpolicy.discovery import (
    codex_home,
    default_rules_file,
    list_rules_files,
    project_root,
    project_rules_dirs,
    user_rules_dir,
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real home, Codex home or shipped policy leaks into a test."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("CODEX_HOME", "EXECGUARD_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXECGUARD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(discovery, "default_rules_file", lambda: tmp_path / "none.rules")


def write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def summary(layers: list[RuleLayer], base: Path) -> list[tuple[str, str, list[str]]]:
    return [
        (layer.kind, str(layer.directory.relative_to(base)),
         [str(f.relative_to(base)) for f in layer.files])
        for layer in layers
    ]


# -- listing one directory ---------------------------------------------------------


def test_files_are_sorted_by_name_in_byte_order(tmp_path: Path) -> None:
    names = ["b.rules", "a.rules", "A.rules", "a-b.rules", "é.rules", "_x.rules", "z.rules"]
    for name in names:
        write(tmp_path / name)
    files = list_rules_files(tmp_path)
    assert files is not None
    assert [f.name for f in files] == sorted(names, key=lambda n: n.encode())
    assert [f.name for f in files][:3] == ["A.rules", "_x.rules", "a-b.rules"]
    assert all(f.parent == tmp_path for f in files)


def test_only_regular_files_ending_in_dot_rules_directly_inside(tmp_path: Path) -> None:
    for name in ["ok.rules", "..rules", ".hidden.rules", "a.b.rules",
                 "x.RULES", "x.Rules", "x.rules.bak", "x.rules~", "rules", ".rules",
                 "default.rules.lock", ".default.rules.0123456789ab.tmp"]:
        write(tmp_path / name)
    write(tmp_path / "sub" / "nested.rules")
    (tmp_path / "dir.rules").mkdir()
    os.mkfifo(tmp_path / "fifo.rules")
    files = list_rules_files(tmp_path)
    assert files is not None
    assert [f.name for f in files] == ["..rules", ".hidden.rules", "a.b.rules", "ok.rules"]


def test_symlinks_to_regular_files_are_included(tmp_path: Path) -> None:
    elsewhere = write(tmp_path / "dotfiles" / "mine.rules", 'prefix_rule(["ls"])\n')
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "linked.rules").symlink_to(elsewhere)
    (rules / "dangling.rules").symlink_to(tmp_path / "missing.rules")
    (rules / "dir-link.rules").symlink_to(tmp_path / "dotfiles")
    assert list_rules_files(rules) == (rules / "linked.rules",)


def test_a_missing_directory_gives_none(tmp_path: Path) -> None:
    assert list_rules_files(tmp_path / "missing") is None
    assert list_rules_files(tmp_path / "missing" / "deeper") is None


def test_a_rules_path_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    write(tmp_path / "rules")
    with pytest.raises(RulesDiscoveryError) as caught:
        list_rules_files(tmp_path / "rules")
    assert str(caught.value) == (
        f"failed to read rules files from {tmp_path / 'rules'}: Not a directory (os error 20)")


def test_an_unreadable_directory_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules"
    write(rules / "a.rules")
    if os.geteuid() == 0:  # root reads anything: simulate the kernel's answer
        real_scandir = os.scandir

        def scandir(path: str) -> object:
            if Path(path) == rules:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        rules.chmod(0)
    try:
        with pytest.raises(RulesDiscoveryError) as caught:
            discover_rule_files(tmp_path, env={"EXECGUARD_HOME": str(tmp_path)})
    finally:
        rules.chmod(0o755)
    assert str(caught.value) == (
        f"failed to read rules files from {rules}: Permission denied (os error 13)")
    assert caught.value.directory == rules


# -- locations ---------------------------------------------------------------------


def test_the_shipped_default_is_found_relative_to_the_source_tree() -> None:
    # (the autouse fixture replaced the module attribute, not this imported function)
    repo = Path(discovery.__file__).resolve().parent.parent
    assert default_rules_file() == repo / "policies" / "default.rules"
    assert (repo / "execpolicy" / "discovery.py").is_file()


def test_user_rules_dir_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert user_rules_dir() == home / ".config" / "execguard" / "rules"
    assert user_rules_dir({"HOME": "/h"}) == Path("/h/.config/execguard/rules")
    assert user_rules_dir({"HOME": "/h", "XDG_CONFIG_HOME": "/x"}) == Path(
        "/x/execguard/rules")
    # relative or empty XDG_CONFIG_HOME is ignored, as the XDG spec says
    assert user_rules_dir({"HOME": "/h", "XDG_CONFIG_HOME": "rel"}) == Path(
        "/h/.config/execguard/rules")
    assert user_rules_dir({"HOME": "/h", "XDG_CONFIG_HOME": ""}) == Path(
        "/h/.config/execguard/rules")
    assert user_rules_dir({"HOME": "/h", "XDG_CONFIG_HOME": "/x", "EXECGUARD_HOME": "/e"}
                          ) == Path("/e/rules")
    assert user_rules_file({"EXECGUARD_HOME": "/e"}) == Path("/e/rules/default.rules")


def test_user_rules_file_follows_the_process_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert user_rules_file() == tmp_path / "xdg" / "execguard" / "rules" / "default.rules"


def test_codex_home_environment(tmp_path: Path) -> None:
    assert codex_home() == tmp_path / "home" / ".codex"
    assert codex_home({"HOME": "/h"}) == Path("/h/.codex")
    assert codex_home({"HOME": "/h", "CODEX_HOME": "/c"}) == Path("/c")
    assert codex_home({"HOME": "/h", "CODEX_HOME": ""}) == Path("/h/.codex")


def test_project_root_is_the_nearest_ancestor_with_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    deep = repo / "a" / "b"
    deep.mkdir(parents=True)
    assert project_root(deep) == deep  # no .git anywhere: the cwd itself
    (repo / ".git").mkdir()
    assert project_root(deep) == repo
    assert project_root(repo) == repo
    write(repo / "a" / ".git", "gitdir: /elsewhere\n")  # worktree / submodule
    assert project_root(deep) == repo / "a"
    assert project_root(str(deep / ".." / "b")) == repo / "a"  # lexical normalisation


def test_project_rules_dirs_run_from_root_to_cwd(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "a" / "b").mkdir(parents=True)
    assert project_rules_dirs(repo / "a" / "b") == [
        repo / ".execguard" / "rules",
        repo / "a" / ".execguard" / "rules",
        repo / "a" / "b" / ".execguard" / "rules",
    ]
    assert project_rules_dirs(repo) == [repo / ".execguard" / "rules"]


def test_relative_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    assert project_rules_dirs("sub") == [
        tmp_path / ".execguard" / "rules", tmp_path / "sub" / ".execguard" / "rules"]
    monkeypatch.chdir(tmp_path / "sub")
    assert project_rules_dirs() == project_rules_dirs(tmp_path / "sub")


# -- layers ------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shipped default, a Codex home, a user dir and a nested project."""
    write(tmp_path / "src" / "policies" / "default.rules", 'prefix_rule(["rm"], "prompt")\n')
    write(tmp_path / "src" / "policies" / "extra.rules")  # not loaded: only default.rules
    monkeypatch.setattr(discovery, "default_rules_file",
                        lambda: tmp_path / "src" / "policies" / "default.rules")
    write(tmp_path / "home" / ".codex" / "rules" / "default.rules",
          'prefix_rule(["git", "push"], "forbidden")\n')
    write(tmp_path / "home" / ".config" / "execguard" / "rules" / "b.rules",
          'prefix_rule(["git"], "prompt")\n')
    write(tmp_path / "home" / ".config" / "execguard" / "rules" / "a.rules",
          'prefix_rule(["git", "status"])\n')
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write(repo / ".execguard" / "rules" / "repo.rules", 'prefix_rule(["make"])\n')
    write(repo / "pkg" / ".execguard" / "rules" / "pkg.rules",
          'prefix_rule(["make", "deploy"], "forbidden")\n')
    (repo / "pkg" / "src").mkdir()
    write(tmp_path / ".execguard" / "rules" / "outside.rules")  # above the project root
    discovery.trust_project(repo)
    return tmp_path


def test_layers_lowest_precedence_first(world: Path) -> None:
    cwd = world / "repo" / "pkg" / "src"
    assert summary(discover_rule_files(cwd, include_codex_home=True), world) == [
        ("default", "src/policies", ["src/policies/default.rules"]),
        ("codex", "home/.codex/rules", ["home/.codex/rules/default.rules"]),
        ("user", "home/.config/execguard/rules",
         ["home/.config/execguard/rules/a.rules", "home/.config/execguard/rules/b.rules"]),
        ("project", "repo/.execguard/rules", ["repo/.execguard/rules/repo.rules"]),
        ("project", "repo/pkg/.execguard/rules", ["repo/pkg/.execguard/rules/pkg.rules"]),
    ]


def test_the_codex_home_is_opt_in(world: Path) -> None:
    kinds = [layer.kind for layer in discover_rule_files(world / "repo")]
    assert kinds == ["default", "user", "project"]


def test_codex_home_from_the_environment(world: Path) -> None:
    write(world / "custom-codex" / "rules" / "x.rules")
    layers = discover_rule_files(
        world / "repo", include_codex_home=True, include_default=False, include_user=False,
        include_project=False, env={"HOME": str(world / "home"),
                                    "CODEX_HOME": str(world / "custom-codex")})
    assert summary(layers, world) == [
        ("codex", "custom-codex/rules", ["custom-codex/rules/x.rules"])]


def test_layers_can_be_turned_off(world: Path) -> None:
    cwd = world / "repo" / "pkg"
    assert [layer.kind for layer in discover_rule_files(
        cwd, include_default=False, include_user=False)] == ["project", "project"]
    assert [layer.kind for layer in discover_rule_files(cwd, include_project=False)] == [
        "default", "user"]


def test_the_default_layer_needs_the_shipped_file(
        world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "default_rules_file",
                        lambda: world / "src" / "policies" / "missing.rules")
    assert [layer.kind for layer in discover_rule_files(world / "repo")] == ["user", "project"]


def test_environment_overrides_for_the_user_layer(world: Path) -> None:
    write(world / "eg" / "rules" / "e.rules")
    write(world / "xdg" / "execguard" / "rules" / "x.rules")
    env = {"HOME": str(world / "home"), "XDG_CONFIG_HOME": str(world / "xdg")}
    only_user = {"include_default": False, "include_project": False}
    assert summary(discover_rule_files(world, env=env, **only_user), world) == [
        ("user", "xdg/execguard/rules", ["xdg/execguard/rules/x.rules"])]
    env["EXECGUARD_HOME"] = str(world / "eg")
    assert summary(discover_rule_files(world, env=env, **only_user), world) == [
        ("user", "eg/rules", ["eg/rules/e.rules"])]


def test_missing_directories_are_fine(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert discover_rule_files(tmp_path / "empty", include_codex_home=True) == []
    assert load_discovered_policy(tmp_path / "empty").rules == []


def test_an_existing_empty_directory_is_a_layer_without_files(tmp_path: Path) -> None:
    (tmp_path / ".execguard" / "rules").mkdir(parents=True)
    assert discover_rule_files(tmp_path, trust_project=True) == [
        RuleLayer("project", tmp_path / ".execguard" / "rules", ())]


def test_a_file_named_dot_execguard_is_ignored(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    write(tmp_path / ".execguard", "unrelated\n")
    write(tmp_path / "sub" / ".execguard" / "rules" / "s.rules")
    layers = discover_rule_files(tmp_path / "sub", trust_project=True)
    assert summary(layers, tmp_path) == [
        ("project", "sub/.execguard/rules", ["sub/.execguard/rules/s.rules"])]


def test_a_directory_reached_twice_is_listed_once(tmp_path: Path) -> None:
    write(tmp_path / ".execguard" / "rules" / "r.rules")
    layers = discover_rule_files(tmp_path, env={"EXECGUARD_HOME": str(tmp_path / ".execguard")})
    assert summary(layers, tmp_path) == [
        ("user", ".execguard/rules", [".execguard/rules/r.rules"])]


def test_a_symlinked_rules_directory_is_listed(tmp_path: Path) -> None:
    write(tmp_path / "shared" / "s.rules")
    (tmp_path / "proj" / ".execguard").mkdir(parents=True)
    (tmp_path / "proj" / ".execguard" / "rules").symlink_to(tmp_path / "shared")
    layers = discover_rule_files(tmp_path / "proj", trust_project=True)
    assert summary(layers, tmp_path) == [
        ("project", "proj/.execguard/rules", ["proj/.execguard/rules/s.rules"])]


# -- loading -----------------------------------------------------------------------


def test_load_discovered_policy_accumulates_all_layers(world: Path) -> None:
    policy = load_discovered_policy(world / "repo" / "pkg" / "src", include_codex_home=True)
    assert policy.decision(["rm", "-rf"]) is Decision.PROMPT  # default
    assert policy.decision(["git", "push"]) is Decision.FORBIDDEN  # codex beats user
    assert policy.decision(["git", "status"]) is Decision.PROMPT  # strictest wins
    assert policy.decision(["make"]) is Decision.ALLOW
    assert policy.decision(["make", "deploy"]) is Decision.FORBIDDEN
    # files load in layer order: a.rules before b.rules
    assert [m.decision for m in policy.matches(["git", "status"])] == [
        Decision.ALLOW, Decision.PROMPT]
    assert load_discovered_policy(world / "repo").decision(["git", "push"]) is Decision.PROMPT


def test_host_executables_of_later_layers_replace_earlier_ones(tmp_path: Path) -> None:
    write(tmp_path / "home" / ".config" / "execguard" / "rules" / "u.rules",
          'host_executable("git", ["/usr/bin/git"])\nprefix_rule(["git"], "prompt")\n')
    write(tmp_path / ".execguard" / "rules" / "p.rules",
          'host_executable("git", ["/opt/git/bin/git"])\n')
    policy = load_discovered_policy(tmp_path, trust_project=True)
    assert policy.host_executables == {"git": ("/opt/git/bin/git",)}
    assert policy.matches(["/usr/bin/git"], resolve_host_executables=True) == []
    assert policy.decision(["/opt/git/bin/git"], resolve_host_executables=True) is (
        Decision.PROMPT)


def test_a_broken_file_is_reported_with_its_path(tmp_path: Path) -> None:
    from execguard.execpolicy import PolicyParseError

    bad = write(tmp_path / ".execguard" / "rules" / "bad.rules", 'prefix_rule(["x"], "nope")\n')
    with pytest.raises(PolicyParseError) as caught:
        load_discovered_policy(tmp_path, trust_project=True)
    assert caught.value.path == str(bad)
    assert caught.value.message == "invalid decision: nope"


def test_amendments_to_the_user_file_are_discovered(tmp_path: Path) -> None:
    target = user_rules_file()
    target.parent.parent.mkdir(parents=True)  # amendments create one level only
    assert append_prefix_rule(target, ["cargo", "test"])
    layers = discover_rule_files(tmp_path)
    assert [(layer.kind, layer.files) for layer in layers] == [("user", (target,))]
    assert load_discovered_policy(tmp_path).decision(["cargo", "test", "-q"]) is Decision.ALLOW


# -- trust -------------------------------------------------------------------------


def test_an_untrusted_checkout_cannot_loosen_the_policy(tmp_path: Path) -> None:
    """A cloned repository's own rules must not allow anything by being cloned."""
    repo = tmp_path / "cloned"
    (repo / ".git").mkdir(parents=True)
    write(repo / ".execguard" / "rules" / "evil.rules",
          'prefix_rule(["curl"], "allow")\nhost_executable("git", ["/tmp/evil/git"])\n')
    assert discover_rule_files(repo) == []
    policy = load_discovered_policy(repo)
    assert policy.decision(["curl", "https://example.com"]) is None
    assert policy.host_executables == {}


def test_a_listed_project_is_trusted_from_any_subdirectory(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    write(repo / ".execguard" / "rules" / "r.rules", 'prefix_rule(["make"])\n')
    assert not discovery.is_trusted_project(repo)
    assert discovery.trust_project(repo) == repo.resolve()
    discovery.trust_project(repo)  # idempotent
    listing = discovery.trusted_projects_file()
    assert listing.read_text().splitlines() == [str(repo.resolve())]
    assert [layer.kind for layer in discover_rule_files(repo / "src")] == ["project"]
    # trust is per project root: a sibling checkout stays untrusted
    other = tmp_path / "other"
    (other / ".git").mkdir(parents=True)
    write(other / ".execguard" / "rules" / "o.rules")
    assert discover_rule_files(other) == []
