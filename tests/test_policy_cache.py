"""The compiled-policy cache: a hit is exactly the evaluated policy, and
anything doubtful is a miss (or, for a damaged entry, an error), never a
different policy."""

from __future__ import annotations

import marshal
import os
from pathlib import Path

import pytest

from execguard.execpolicy import Decision, PolicyError, load_policy
from execguard.execpolicy import cache as policy_cache

RULES = ('host_executable("git", ["/usr/bin/git"])\n'
         'prefix_rule(["git", ["push", "fetch"]], "prompt", justification="remote")\n'
         'prefix_rule(["GIT"], "forbidden", canonical_matching=True)\n'
         'prefix_rule(["ls"])\n'
         'network_rule("pypi.org", "https", "allow")\n')


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv("EXECGUARD_CACHE_DIR", str(directory))
    return directory


def entry(cache: Path) -> Path:
    (only,) = list(cache.iterdir())
    return only


def test_a_hit_is_the_evaluated_policy(tmp_path: Path, cache: Path) -> None:
    rules = tmp_path / "a.rules"
    rules.write_text(RULES)
    evaluated = load_policy([rules], use_cache=False)
    first = load_policy([rules])
    hit = load_policy([rules])
    assert entry(cache).stat().st_mode & 0o777 == 0o600
    assert cache.stat().st_mode & 0o777 == 0o700
    assert hit == first == evaluated
    for command in (["git", "push"], ["git"], ["Git", "x"], ["/usr/bin/git", "fetch"], ["ls"]):
        for resolve in (False, True):
            assert hit.matches(command, resolve_host_executables=resolve) == evaluated.matches(
                command, resolve_host_executables=resolve)
    assert hit.decision(["git", "push"]) is Decision.FORBIDDEN
    assert hit.compiled_network_domains() == (["pypi.org"], [])


def test_an_edited_file_is_evaluated_again(tmp_path: Path, cache: Path) -> None:
    rules = tmp_path / "a.rules"
    rules.write_text('prefix_rule(["ls"])\n')
    assert load_policy([rules]).decision(["ls"]) is Decision.ALLOW
    rules.write_text('prefix_rule(["ls"], "forbidden")\n')
    assert load_policy([rules]).decision(["ls"]) is Decision.FORBIDDEN


def test_an_entry_for_other_sources_under_the_same_name_is_a_miss(
        tmp_path: Path, cache: Path) -> None:
    """The file name is a CRC: a collision must not hand out another policy."""
    rules = tmp_path / "a.rules"
    rules.write_text('prefix_rule(["rm"], "forbidden")\n')
    load_policy([rules])
    other = tmp_path / "b.rules"
    other.write_text('prefix_rule(["rm"])\n')
    forged = load_policy([other], use_cache=False)
    data = marshal.loads(entry(cache).read_bytes())
    entry(cache).write_bytes(marshal.dumps(
        (data[0], [other.read_bytes()], None, *policy_cache._encode(forged))))
    assert load_policy([rules]).decision(["rm", "-rf"]) is Decision.FORBIDDEN


def test_garbage_and_foreign_entries_are_misses(tmp_path: Path, cache: Path) -> None:
    rules = tmp_path / "a.rules"
    rules.write_text('prefix_rule(["rm"], "forbidden")\n')
    load_policy([rules])
    for damage in (b"", b"\x00garbage", marshal.dumps(("execguard-policy-cache-0",))):
        entry(cache).write_bytes(damage)
        assert load_policy([rules]).decision(["rm"]) is Decision.FORBIDDEN
    os.chown(entry(cache), 65534, 65534)  # an entry someone else planted
    assert policy_cache.load_cached([rules.read_bytes()]) is None


def test_a_damaged_rule_group_fails_the_check_instead_of_allowing(
        tmp_path: Path, cache: Path) -> None:
    rules = tmp_path / "a.rules"
    rules.write_text('prefix_rule(["rm"], "forbidden")\n')
    load_policy([rules])
    fmt, sources, env, groups, *rest = marshal.loads(entry(cache).read_bytes())
    groups["rm"] = groups["rm"][:-3]
    entry(cache).write_bytes(marshal.dumps((fmt, sources, env, groups, *rest)))
    policy = load_policy([rules])
    with pytest.raises(PolicyError, match="corrupt policy cache entry"):
        policy.matches(["rm", "-rf"])


def test_examples_resolved_against_the_cwd_are_only_reused_in_that_cwd(
        tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    rules = tmp_path / "a.rules"
    # `./git` resolves against the cwd; the gate only lets <home>/git through.
    rules.write_text(f'host_executable("git", ["{home}/git"])\n'
                     'prefix_rule(["git"], match=["./git status"])\n')
    monkeypatch.chdir(elsewhere)
    with pytest.raises(PolicyError, match="expected every example to match"):
        load_policy([rules])
    monkeypatch.chdir(home)
    assert load_policy([rules]).decision(["git"]) is Decision.ALLOW
    assert load_policy([rules]).decision(["git"]) is Decision.ALLOW  # a hit, here
    monkeypatch.chdir(elsewhere)
    with pytest.raises(PolicyError, match="expected every example to match"):
        load_policy([rules])


def test_the_cache_can_be_turned_off(tmp_path: Path, cache: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "a.rules"
    rules.write_text('prefix_rule(["ls"])\n')
    monkeypatch.setenv("EXECGUARD_POLICY_CACHE", "0")
    load_policy([rules])
    assert not cache.exists()
