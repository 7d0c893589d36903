"""How a loaded policy matches commands (spec §5, §9).

Rules are written as users write them (`.rules` text) and checked through the
public API: `Policy.matches` / `Policy.check` / `Policy.decision`.
"""

from __future__ import annotations

import itertools
import json

import pytest

from execguard.execpolicy import (
    Decision,
    Evaluation,
    NetworkProtocol,
    Policy,
    PolicyError,
    Resolution,
    RuleMatch,
    load_policy_from_strings,
)


def policy(*sources: str) -> Policy:
    """A policy from rules-file texts, named f0.rules, f1.rules, ..."""
    return load_policy_from_strings([(f"f{i}.rules", s) for i, s in enumerate(sources)])


Row = tuple[list[str], str, str | None, str | None]


def rows(matches: list[RuleMatch]) -> list[Row]:
    return [(m.matched_prefix, m.decision.value, m.resolved_program, m.justification)
            for m in matches]


# A fixed place for host-executable resolution, independent of the test process.
HERE = Resolution(cwd="/work/proj", home="/home/fake")


def resolved(p: Policy, command: list[str], resolution: Resolution = HERE) -> list[Row]:
    return rows(p.matches(command, resolve_host_executables=True, resolution=resolution))


# -- §5.1 one rule against one command -------------------------------------------


GIT_STATUS = 'prefix_rule(["git", "status"])'


@pytest.mark.parametrize(
    ("command", "prefix"),
    [
        (["git", "status"], ["git", "status"]),
        (["git", "status", "--short", "-b"], ["git", "status"]),  # extra tokens ignored
        (["git"], None),  # too short
        (["git", "stat"], None),  # whole tokens, not string prefixes
        (["git", "statusx"], None),
        (["git", "Status"], None),  # case-sensitive without canonical matching
        (["git", " status"], None),
        (["hg", "status"], None),
        (["status", "git"], None),
        ([], None),
    ],
)
def test_a_rule_matches_commands_that_start_with_its_pattern(
    command: list[str], prefix: list[str] | None
) -> None:
    found = policy(GIT_STATUS).matches(command)
    if prefix is None:
        assert found == []
    else:
        assert rows(found) == [(prefix, "allow", None, None)]


def test_matched_prefix_is_the_commands_own_spelling() -> None:
    p = policy('prefix_rule(["git", ["checkout", "switch"], "-b"], "prompt", justification="j")')
    assert rows(p.matches(["git", "switch", "-b", "topic", "--track"])) == [
        (["git", "switch", "-b"], "prompt", None, "j")]


def test_later_alternatives_match_any_one_spelling_without_expanding() -> None:
    p = policy('prefix_rule(["git", ["push", "fetch"], ["-f", "--force"]], "forbidden")')
    for sub, flag in itertools.product(["push", "fetch"], ["-f", "--force"]):
        assert rows(p.matches(["git", sub, flag])) == [
            (["git", sub, flag], "forbidden", None, None)]
    assert p.matches(["git", "pull", "-f"]) == []
    assert p.matches(["git", "push", "-F"]) == []
    assert len(p.rules) == 1


def test_one_element_alternatives_are_plain_tokens() -> None:
    p = policy('prefix_rule([["git"], ["status"]])')
    assert [(r.program, r.rest) for r in p.rules] == [("git", ("status",))]
    assert rows(p.matches(["git", "status"])) == [(["git", "status"], "allow", None, None)]


def test_first_token_alternatives_become_independent_rules_in_order() -> None:
    p = policy('prefix_rule([["python3", "python"], "-c"], "prompt", justification="code",'
               ' canonical_matching=True)')
    assert [(r.program, r.rest, r.decision, r.justification, r.canonical_matching)
            for r in p.rules] == [
        ("python3", ("-c",), Decision.PROMPT, "code", True),
        ("python", ("-c",), Decision.PROMPT, "code", True),
    ]
    assert rows(p.matches(["python", "-c", "1"])) == [(["python", "-c"], "prompt", None, "code")]
    assert rows(p.matches(["PYTHON3", "-C"])) == [(["PYTHON3", "-C"], "prompt", None, "code")]


def test_duplicate_first_token_alternatives_are_kept() -> None:
    p = policy('prefix_rule([["git", "git"], "log"])')
    assert len(p.rules) == 2
    assert rows(p.matches(["git", "log"])) == [(["git", "log"], "allow", None, None)] * 2


def test_duplicate_rules_give_duplicate_matches() -> None:
    p = policy('prefix_rule(["ls"])', 'prefix_rule(["ls"])')
    assert rows(p.matches(["ls"])) == [(["ls"], "allow", None, None)] * 2


@pytest.mark.parametrize(
    ("command", "prefix"),
    [(["", "x"], ["", "x"]), (["git", "", "y"], ["git", ""]), (["git", "y"], None)],
)
def test_empty_string_tokens_match_empty_argv_tokens(
    command: list[str], prefix: list[str] | None
) -> None:
    p = policy('prefix_rule(["", "x"])\nprefix_rule(["git", ""])')
    expected = [] if prefix is None else [(prefix, "allow", None, None)]
    assert rows(p.matches(command)) == expected


# -- §5.5 the strictest decision wins ------------------------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations(["allow", "prompt", "forbidden"])))
def test_strictest_decision_wins_whatever_the_rule_order(order: tuple[str, ...]) -> None:
    p = policy("\n".join(f'prefix_rule(["rm"] + ["-r"] * {i}, "{d}")' for i, d in enumerate(order)))
    found = p.matches(["rm", "-r", "-r", "/"])
    assert [m.decision.value for m in found] == list(order)  # listed in definition order
    assert p.decision(["rm", "-r", "-r"]) is Decision.FORBIDDEN
    assert p.check(["rm", "-r", "-r"]).decision is Decision.FORBIDDEN


@pytest.mark.parametrize(
    ("decisions", "strictest"),
    [(["allow"], "allow"), (["allow", "allow"], "allow"), (["prompt", "allow"], "prompt"),
     (["allow", "forbidden", "prompt"], "forbidden")],
)
def test_decision_is_the_maximum_over_matches(decisions: list[str], strictest: str) -> None:
    p = policy(*(f'prefix_rule(["make"], "{d}")' for d in decisions))
    assert p.decision(["make", "all"]) == Decision(strictest)


def test_unmatched_command_has_no_decision() -> None:
    p = policy('prefix_rule(["git"], "forbidden")')
    assert p.matches(["hg"]) == []
    assert p.decision(["hg"]) is None
    assert p.check(["hg"]).decision is None


def test_every_match_is_listed_in_order_across_several_files() -> None:
    p = policy(
        'prefix_rule(["git"], "prompt", justification="a")\nprefix_rule(["ls"])',
        'prefix_rule(["git", "push"], "forbidden")',
        'prefix_rule(["git", ["push", "pull"]])\nprefix_rule(["git"], justification="c")',
    )
    assert rows(p.matches(["git", "push", "origin"])) == [
        (["git"], "prompt", None, "a"),
        (["git", "push"], "forbidden", None, None),
        (["git", "push"], "allow", None, None),
        (["git"], "allow", None, "c"),
    ]
    assert p.decision(["git", "push"]) is Decision.FORBIDDEN
    assert rows(p.matches(["git", "pull"])) == [
        (["git"], "prompt", None, "a"), (["git", "pull"], "allow", None, None),
        (["git"], "allow", None, "c")]


# -- §5.2 canonical matching ----------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_token", "command_token"),
    [
        ("git", "GIT"),
        ("straße", "STRASSE"),
        ("ﬀ", "FF"),
        ("k", "\u212a"),  # KELVIN SIGN
        ("å", "\u212b"),  # ANGSTROM SIGN
        ("σ", "ς"),
        ("i\u0307", "İ"),
        ("ι", "\u0345"),
        ("caf\u00e9", "cafe\u0301"),  # composed vs decomposed
        ("cafe\u0301", "CAF\u00c9"),
    ],
)
def test_canonical_matching_is_canonical_caseless(rule_token: str, command_token: str) -> None:
    rest = policy(f'prefix_rule(["x", {json.dumps(rule_token)}], canonical_matching=True)')
    assert rows(rest.matches(["x", command_token])) == [
        (["x", command_token], "allow", None, None)]  # the command's spelling is echoed
    program = policy(f'prefix_rule([{json.dumps(rule_token)}], canonical_matching=True)')
    assert rows(program.matches([command_token, "y"])) == [([command_token], "allow", None, None)]
    # without the flag the spellings differ
    exact = policy(f'prefix_rule(["x", {json.dumps(rule_token)}])')
    assert exact.matches(["x", command_token]) == []
    assert policy(f'prefix_rule([{json.dumps(rule_token)}])').matches([command_token]) == []


@pytest.mark.parametrize(
    ("rule_token", "command_token"),
    [
        ("git", "ｇｉｔ"),  # full-width: a compatibility form
        ("h", "ℌ"),
        ("git", "git "),  # surrounding whitespace is significant
        ("git", " git"),
        ("fi", "ﬁx"),
    ],
)
def test_canonical_matching_does_not_fold_compatibility_forms_or_whitespace(
    rule_token: str, command_token: str
) -> None:
    p = policy(f'prefix_rule(["x", {json.dumps(rule_token)}], canonical_matching=True)\n'
               f'prefix_rule([{json.dumps(rule_token)}], canonical_matching=True)')
    assert p.matches(["x", command_token]) == []
    assert p.matches([command_token]) == []


def test_canonical_matching_applies_to_alternatives() -> None:
    p = policy('prefix_rule(["tool", ["Start", "STOP"]], "prompt", canonical_matching=True)')
    assert rows(p.matches(["TOOL", "stop", "now"])) == [(["TOOL", "stop"], "prompt", None, None)]
    assert rows(p.matches(["tool", "START"])) == [(["tool", "START"], "prompt", None, None)]
    assert p.matches(["tool", "restart"]) == []


def test_nfc_and_nfd_differ_without_canonical_matching() -> None:
    p = policy('prefix_rule(["caf\\u00e9"])')
    assert p.matches(["cafe\u0301"]) == []
    assert len(p.matches(["caf\u00e9"])) == 1


def test_exact_key_group_comes_before_canonical_cross_key_group() -> None:
    p = policy(
        'prefix_rule(["GIT"], "prompt", canonical_matching=True)\n'
        'prefix_rule(["git"])\n'
        'prefix_rule(["Git"], "forbidden")',  # not canonical: never matches `git`
        'prefix_rule(["git"], "forbidden", canonical_matching=True, justification="exact")',
    )
    assert rows(p.matches(["git", "x"])) == [
        (["git"], "allow", None, None),
        (["git"], "forbidden", None, "exact"),
        (["git"], "prompt", None, None),
    ]
    # For `GIT`, only the canonical rules of other spellings join the exact one.
    assert rows(p.matches(["GIT"])) == [
        (["GIT"], "prompt", None, None), (["GIT"], "forbidden", None, "exact")]
    assert rows(p.matches(["Git"])) == [
        (["Git"], "forbidden", None, None),
        # the cross-key group, order between spellings unspecified (see below)
        *rows(p.matches(["Git"]))[1:],
    ]
    assert sorted(rows(p.matches(["Git"]))[1:], key=repr) == sorted(
        [(["Git"], "prompt", None, None), (["Git"], "forbidden", None, "exact")], key=repr)


def test_cross_key_group_keeps_definition_order_within_one_spelling() -> None:
    p = policy(
        'prefix_rule(["GIT"], "prompt", canonical_matching=True, justification="1")\n'
        'prefix_rule(["Git"], canonical_matching=True, justification="a")\n'
        'prefix_rule(["GIT"], canonical_matching=True, justification="2")\n'
        'prefix_rule(["GIT"], "forbidden", justification="not canonical")',
    )
    found = [m.justification for m in p.matches(["git"])]
    # The order between spellings is unspecified; within `GIT`, definition order.
    assert sorted(found, key=str) == ["1", "2", "a"]
    assert [j for j in found if j != "a"] == ["1", "2"]
    assert p.decision(["git"]) is Decision.PROMPT


# -- §5.4 host-executable resolution ----------------------------------------------------


def test_resolution_is_off_unless_asked_for() -> None:
    p = policy('prefix_rule(["git"])')
    assert p.matches(["/usr/bin/git", "status"]) == []
    assert p.check(["/usr/bin/git"]).decision is None


def test_without_host_executable_entries_any_path_falls_back_to_its_basename() -> None:
    p = policy('prefix_rule(["git", "status"], "prompt", justification="j")')
    for path in ["/usr/bin/git", "/opt/homebrew/bin/git", "/tmp/x/git"]:
        assert resolved(p, [path, "status", "-s"]) == [
            (["git", "status"], "prompt", path, "j")]
    assert resolved(p, ["/usr/bin/git", "log"]) == []


def test_basename_gate_lets_only_listed_paths_stand_for_a_name() -> None:
    p = policy('prefix_rule(["git"])\nhost_executable("git", ["/usr/bin/git", "/opt/git/bin/git"])')
    assert resolved(p, ["/usr/bin/git"]) == [(["git"], "allow", "/usr/bin/git", None)]
    assert resolved(p, ["/opt/git/bin/git", "x"]) == [(["git"], "allow", "/opt/git/bin/git", None)]
    assert resolved(p, ["/usr/local/bin/git"]) == []
    assert resolved(p, ["/usr/bin/GIT"]) == []  # no rule for GIT


def test_resolution_normalises_the_program_path_lexically() -> None:
    p = policy('prefix_rule(["git"])\nhost_executable("git", ["/usr/bin/git"])\n'
               'prefix_rule(["bin"], "prompt")')
    for spelling in ["/usr/bin/../bin//git", "/usr/./bin/git", "//usr/bin/git", "/../usr/bin/git"]:
        assert resolved(p, [spelling, "status"]) == [(["git"], "allow", "/usr/bin/git", None)]
    # `..` can change the basename itself.
    assert resolved(p, ["/usr/bin/git/.."]) == [(["bin"], "prompt", "/usr/bin", None)]


def test_root_has_no_basename_and_matches_nothing() -> None:
    p = policy('prefix_rule([""])\nprefix_rule(["git"])')
    assert resolved(p, ["/"]) == []
    assert resolved(p, ["/.."]) == []


def test_empty_host_executable_paths_forbid_every_absolute_path() -> None:
    p = policy('prefix_rule(["git"])\nhost_executable("git", [])')
    assert resolved(p, ["/usr/bin/git"]) == []
    assert rows(p.matches(["git"], resolve_host_executables=True)) == [
        (["git"], "allow", None, None)]  # the bare name still matches exactly


def test_per_rule_gate_applies_to_the_rules_own_program_name() -> None:
    p = policy('host_executable("git", ["/usr/bin/git"])\n'
               'prefix_rule(["git"], canonical_matching=True)\n'
               'prefix_rule(["GIT"], "prompt")')
    # `GIT` has no entry, so the basename gate passes; the canonical `git` rule
    # is gated by git's entry, which does not list /usr/bin/GIT.
    assert resolved(p, ["/usr/bin/GIT"]) == [(["GIT"], "prompt", "/usr/bin/GIT", None)]
    assert resolved(p, ["/usr/bin/git"]) == [(["git"], "allow", "/usr/bin/git", None)]


def test_canonical_rules_fall_back_to_any_spelling_of_their_name() -> None:
    p = policy('prefix_rule(["git", "push"], canonical_matching=True)')
    assert resolved(p, ["/usr/bin/GIT", "PUSH"]) == [
        (["GIT", "PUSH"], "allow", "/usr/bin/GIT", None)]
    gated = policy('prefix_rule(["git"], canonical_matching=True)\n'
                   'host_executable("GIT", ["/opt/GIT"])')
    assert resolved(gated, ["/usr/bin/GIT"]) == []  # basename gate of `GIT`


def test_tilde_is_expanded_with_the_given_home() -> None:
    p = policy('prefix_rule(["git"])\nprefix_rule(["fake"], "prompt")')
    assert resolved(p, ["~/bin/git", "x"]) == [(["git"], "allow", "/home/fake/bin/git", None)]
    assert resolved(p, ["~"]) == [(["fake"], "prompt", "/home/fake", None)]
    assert resolved(p, ["~/"]) == [(["fake"], "prompt", "/home/fake", None)]
    # `~user` is not expanded: it is a relative path.
    assert resolved(p, ["~user/git"]) == [(["git"], "allow", "/work/proj/~user/git", None)]


def test_relative_programs_are_resolved_against_the_given_cwd() -> None:
    p = policy('prefix_rule(["git"])')
    assert resolved(p, ["./git"]) == [(["git"], "allow", "/work/proj/git", None)]
    assert resolved(p, ["usr/bin/git"]) == [(["git"], "allow", "/work/proj/usr/bin/git", None)]
    assert resolved(p, ["../git"]) == [(["git"], "allow", "/work/git", None)]
    elsewhere = Resolution(cwd="/srv", home="/home/fake")
    assert resolved(p, ["./git"], elsewhere) == [(["git"], "allow", "/srv/git", None)]


def test_relative_programs_are_gated_by_their_resolved_path() -> None:
    p = policy('prefix_rule(["git"])\nhost_executable("git", ["/work/proj/bin/git"])')
    assert resolved(p, ["bin/git"]) == [(["git"], "allow", "/work/proj/bin/git", None)]
    assert resolved(p, ["./git"]) == []


def test_default_resolution_uses_home_and_the_process_cwd(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    monkeypatch.chdir("/tmp")
    p = policy('prefix_rule(["git"])')
    assert rows(p.matches(["~/git"], resolve_host_executables=True)) == [
        (["git"], "allow", "/home/someone/git", None)]
    assert rows(p.matches(["./git"], resolve_host_executables=True)) == [
        (["git"], "allow", "/tmp/git", None)]


def test_exact_matches_beat_resolution() -> None:
    p = policy('prefix_rule(["git"])\nprefix_rule(["/usr/bin/git"], "prompt")')
    assert resolved(p, ["/usr/bin/git", "status"]) == [(["/usr/bin/git"], "prompt", None, None)]
    assert resolved(p, ["/bin/git"]) == [(["git"], "allow", "/bin/git", None)]


def test_backslashes_are_ordinary_characters() -> None:
    p = policy('prefix_rule(["a\\\\b"])')
    assert resolved(p, ["/x/a\\b"]) == [(["a\\b"], "allow", "/x/a\\b", None)]


@pytest.mark.parametrize(
    ("program", "absolute"),
    [
        ("/usr/bin/git", "/usr/bin/git"),
        ("/usr//bin/./git/", "/usr/bin/git"),
        ("/a/b/../../..", "/"),
        ("git", "/work/proj/git"),
        ("./a/../b", "/work/proj/b"),
        ("~", "/home/fake"),
        ("~/x/../y", "/home/fake/y"),
        ("~x", "/work/proj/~x"),
        ("", "/work/proj"),
    ],
)
def test_resolution_absolute(program: str, absolute: str) -> None:
    assert HERE.absolute(program) == absolute


# -- Policy.check(): typed result and wire shape ------------------------------------------


def test_check_returns_a_typed_evaluation() -> None:
    p = policy('prefix_rule(["git", "push"], "forbidden", justification="no pushing")\n'
               'prefix_rule(["git"], "prompt")')
    result = p.check(["git", "push", "-f"])
    assert isinstance(result, Evaluation)
    assert result.decision is Decision.FORBIDDEN
    first = result.matched_rules[0].prefix_rule_match
    assert first.matched_prefix == ["git", "push"]
    assert first.decision is Decision.FORBIDDEN
    assert first.justification == "no pushing"
    assert first.resolved_program is None
    assert [m.prefix_rule_match.decision for m in result.matched_rules] == [
        Decision.FORBIDDEN, Decision.PROMPT]


def test_check_to_json_has_the_reference_shape_and_omits_unset_fields() -> None:
    p = policy('prefix_rule(["git", "push"], "forbidden", justification="no pushing")\n'
               'prefix_rule(["git"], "prompt")')
    document = p.check(["git", "push"]).to_json()
    assert json.dumps(document) == json.dumps({
        "matchedRules": [
            {"prefixRuleMatch": {"matchedPrefix": ["git", "push"], "decision": "forbidden",
                                 "justification": "no pushing"}},
            {"prefixRuleMatch": {"matchedPrefix": ["git"], "decision": "prompt"}},
        ],
        "decision": "forbidden",
    })  # key order included
    assert p.check(["hg"]).to_json() == {"matchedRules": []}


def test_check_to_json_reports_the_resolved_program_before_the_justification() -> None:
    p = policy('prefix_rule(["git"], justification="ok")')
    document = p.check(["/usr/bin/git"], resolve_host_executables=True, resolution=HERE).to_json()
    body = document["matchedRules"][0]["prefixRuleMatch"]
    assert list(body) == ["matchedPrefix", "decision", "resolvedProgram", "justification"]
    assert body == {"matchedPrefix": ["git"], "decision": "allow",
                    "resolvedProgram": "/usr/bin/git", "justification": "ok"}
    assert list(document) == ["matchedRules", "decision"]


def test_check_json_agrees_with_rule_match_json() -> None:
    p = policy('prefix_rule(["git"], "prompt", justification="j")\nprefix_rule(["git", "a"])')
    for command in (["git", "a"], ["/bin/git", "a"]):
        matches = p.matches(command, resolve_host_executables=True, resolution=HERE)
        evaluation = p.check(command, resolve_host_executables=True, resolution=HERE)
        assert evaluation.to_json()["matchedRules"] == [m.to_json() for m in matches]


# -- §9 Policy API ----------------------------------------------------------------------


def test_allowed_prefixes_lists_allow_rules_sorted_and_deduplicated() -> None:
    p = policy(
        'prefix_rule(["git", "status"])\n'
        'prefix_rule(["git", ["log", "show"], "-p"])\n'
        'prefix_rule([["ls", "dir"]])\n'
        'prefix_rule(["git", "status"], justification="again")\n'
        'prefix_rule(["git", "push"], "prompt")\n'
        'prefix_rule(["rm"], "forbidden")',
        'prefix_rule(["cat"], canonical_matching=True)',
    )
    assert p.allowed_prefixes() == [
        ["cat"], ["dir"], ["git", "[log|show]", "-p"], ["git", "status"], ["ls"]]
    assert policy('prefix_rule(["rm"], "prompt")').allowed_prefixes() == []


def test_compiled_network_domains_spec_example() -> None:
    p = policy(
        'network_rule("google.com", "http", "allow")\n'
        'network_rule("api.github.com", "https", "allow")\n'
        'network_rule("blocked.example.com", "http", "deny")\n'
        'network_rule("prompt-only.example.com", "http", "prompt")'
    )
    assert p.compiled_network_domains() == (["google.com", "api.github.com"],
                                            ["blocked.example.com"])


def test_compiled_network_domains_last_deciding_rule_wins_host_wide() -> None:
    p = policy(
        'network_rule("a.com", "http", "allow")\n'
        'network_rule("b.com", "https", "deny")\n'
        'network_rule("A.com:443", "socks5_tcp", "forbidden")\n'  # same host, any protocol
        'network_rule("c.com", "http", "allow")\n'
        'network_rule("a.com", "http", "prompt")\n'  # prompt rules never decide
        'network_rule("b.com", "socks5_udp", "allow")',
    )
    assert p.compiled_network_domains() == (["c.com", "b.com"], ["a.com"])
    assert policy().compiled_network_domains() == ([], [])


def test_merge_overlay_appends_rules_and_replaces_host_executables() -> None:
    base = policy('prefix_rule(["git"], "prompt")\nhost_executable("git", ["/usr/bin/git"])\n'
                  'host_executable("ls", ["/bin/ls"])\nnetwork_rule("a.com", "http", "allow")')
    overlay = policy('prefix_rule(["git", "push"], "forbidden")\n'
                     'prefix_rule(["RM"], "forbidden", canonical_matching=True)\n'
                     'host_executable("git", ["/opt/git"])\n'
                     'network_rule("b.com", "https", "deny")')
    base.merge_overlay(overlay)
    assert rows(base.matches(["git", "push"])) == [
        (["git"], "prompt", None, None), (["git", "push"], "forbidden", None, None)]
    assert base.decision(["rm", "-rf"]) is Decision.FORBIDDEN  # canonical lookup still works
    assert base.host_executables == {"git": ("/opt/git",), "ls": ("/bin/ls",)}
    assert [(n.host, n.protocol, n.decision) for n in base.network_rules] == [
        ("a.com", NetworkProtocol.HTTP, Decision.ALLOW),
        ("b.com", NetworkProtocol.HTTPS, Decision.FORBIDDEN)]
    assert resolved(base, ["/opt/git", "push"])[-1] == (
        ["git", "push"], "forbidden", "/opt/git", None)
    assert resolved(base, ["/usr/bin/git"]) == []


def test_merge_overlay_with_itself_duplicates_every_rule_once() -> None:
    p = policy('prefix_rule(["git"], "prompt")\nprefix_rule(["GIT"], canonical_matching=True)\n'
               'network_rule("a.com", "http", "allow")')
    p.merge_overlay(p)
    assert [(r.program, r.decision.value) for r in p.rules] == [
        ("git", "prompt"), ("git", "prompt"), ("GIT", "allow"), ("GIT", "allow")]
    assert len(p.network_rules) == 2
    assert len(p.matches(["git"])) == 4


def test_decision_accepts_a_resolution() -> None:
    p = policy('prefix_rule(["git"], "prompt")\nhost_executable("git", ["/work/proj/git"])')
    assert p.decision(["./git"], resolve_host_executables=True, resolution=HERE) is (
        Decision.PROMPT)
    elsewhere = Resolution(cwd="/srv", home="/home/fake")
    assert p.decision(["./git"], resolve_host_executables=True, resolution=elsewhere) is None


def test_add_prefix_rule_appends_a_literal_rule() -> None:
    p = policy('prefix_rule(["git"], "forbidden")')
    rule = p.add_prefix_rule(["git", "status"], "allow")
    assert (rule.program, rule.rest, rule.decision, rule.justification) == (
        "git", ("status",), Decision.ALLOW, None)
    assert rows(p.matches(["git", "status"])) == [
        (["git"], "forbidden", None, None), (["git", "status"], "allow", None, None)]
    p.add_prefix_rule(["make"])
    assert p.decision(["make"]) is Decision.ALLOW
    p.add_prefix_rule(("tool", "[a|b]"), Decision.PROMPT)  # no alternatives syntax
    assert p.matches(["tool", "a"]) == []
    assert p.decision(["tool", "[a|b]"]) is Decision.PROMPT


def test_add_prefix_rule_rejects_an_empty_prefix() -> None:
    p = Policy()
    with pytest.raises(PolicyError) as caught:
        p.add_prefix_rule([])
    assert str(caught.value) == "invalid pattern element: prefix cannot be empty"
    assert p.rules == []
    with pytest.raises(PolicyError, match=r"^invalid decision: deny$"):
        p.add_prefix_rule(["git"], "deny")
    assert p.rules == []


def test_add_network_rule_validates_like_the_builtin() -> None:
    p = Policy()
    rule = p.add_network_rule(" Example.COM.:8443 ", "https_connect", "deny", "because")
    assert (rule.host, rule.protocol, rule.decision, rule.justification) == (
        "example.com", NetworkProtocol.HTTPS, Decision.FORBIDDEN, "because")
    with pytest.raises(PolicyError, match=r"^invalid decision: ask$"):
        p.add_network_rule("a.com", "http", "ask")
    with pytest.raises(PolicyError, match="wildcards are not allowed"):
        p.add_network_rule("*.a.com", "http", "allow")
    assert len(p.network_rules) == 1
