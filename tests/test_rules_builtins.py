"""The three builtins of a `.rules` file and how the loader reports them (spec §2-§4).

Every expected message below was checked against codex-cli 0.169.0.
"""

from __future__ import annotations

import pytest

from execguard.execpolicy import (
    Decision,
    Location,
    NetworkProtocol,
    Policy,
    PolicyError,
    PolicyParseError,
    PolicyParser,
    load_policy_from_strings,
)
from execguard.execpolicy.rule import normalize_network_host, rust_trim


def load(*sources: str) -> Policy:
    return load_policy_from_strings([(f"f{i}.rules", s) for i, s in enumerate(sources)])


def error_of(*sources: str) -> PolicyParseError:
    with pytest.raises(PolicyParseError) as caught:
        load(*sources)
    return caught.value


def message_of(source: str) -> str:
    return error_of(source).message


# -- §3.1 prefix_rule: validation in order, first failure wins ----------------------------


PREFIX_RULE_ERRORS = [
    # 1. binding and types (the interpreter's wording)
    ('prefix_rule()', "Missing parameter `pattern` for call to `prefix_rule`"),
    ('prefix_rule(decision="allow", bogus=1)',
     "Missing parameter `pattern` for call to `prefix_rule`"),
    ('prefix_rule(["git"], reviewer="x")',
     "Found `reviewer` extra named parameter(s) for call to prefix_rule"),
    ('prefix_rule(["git"], foo=1, bar=2)',
     "Found `foo` `bar` extra named parameter(s) for call to prefix_rule"),
    ('prefix_rule(["git"], **{"x": 1, "y": 2})',
     "Found `x` `y` extra named parameter(s) for call to prefix_rule"),
    ('prefix_rule(["git"], 1, 2, 3, 4, 5, 6)',
     "Found 1 extra positional argument(s) for call to prefix_rule"),
    ('prefix_rule(1, 2, 3, 4, 5, 6, 7, 8)',
     "Found 2 extra positional argument(s) for call to prefix_rule"),
    ('prefix_rule(["git"], 1, 2, 3, 4, 5, 6, foo=1)',
     "Found 1 extra positional argument(s) for call to prefix_rule"),
    ('prefix_rule(["git"], pattern=["x"])', "Argument `pattern` occurs more than once"),
    ('prefix_rule(["git"], 1, 2, 3, 4, 5, 6, pattern=[])',
     "Argument `pattern` occurs more than once"),
    ('prefix_rule(["git"], *["allow"], **{"decision": "allow"})',
     "Argument `decision` occurs more than once"),
    ('prefix_rule(["git"], decision="allow", decision="prompt")', "repeated named argument"),
    ('prefix_rule("git")',
     'Type of parameter `pattern` doesn\'t match, expected `list`, actual `string (repr: "git")`'),
    ('prefix_rule({"a": 1})',
     'Type of parameter `pattern` doesn\'t match, expected `list`, actual `dict (repr: {"a": 1})`'),
    ('prefix_rule(1, decision=2)',
     "Type of parameter `pattern` doesn't match, expected `list`, actual `int (repr: 1)`"),
    ('prefix_rule(["git"], decision=2, match=3)',
     "Type of parameter `decision` doesn't match, expected `str`, actual `int (repr: 2)`"),
    ('prefix_rule(["git"], decision=None)',
     "Type of parameter `decision` doesn't match, expected `str`, actual `NoneType (repr: None)`"),
    ('prefix_rule(["git"], match="git")',
     'Type of parameter `match` doesn\'t match, expected `list`, actual `string (repr: "git")`'),
    ('prefix_rule(["git"], match=["git"], not_match="hg")',
     'Type of parameter `not_match` doesn\'t match, expected `list`, actual `string (repr: "hg")`'),
    ('prefix_rule(["git"], match=None)',
     "Type of parameter `match` doesn't match, expected `list`, actual `NoneType (repr: None)`"),
    ('prefix_rule(["git"], justification=None)',
     "Type of parameter `justification` doesn't match, expected `str`, actual "
     "`NoneType (repr: None)`"),
    ('prefix_rule(["git"], canonical_matching="true")',
     "Type of parameter `canonical_matching` doesn't match, expected `bool`, actual "
     '`string (repr: "true")`'),
    ('prefix_rule(["git"], canonical_matching=0)',
     "Type of parameter `canonical_matching` doesn't match, expected `bool`, actual "
     "`int (repr: 0)`"),
    # the sixth positional is `canonical_matching`
    ('prefix_rule(["git"], "allow", [], [], "j", 1)',
     "Type of parameter `canonical_matching` doesn't match, expected `bool`, actual "
     "`int (repr: 1)`"),
    ('prefix_rule(["git"], "allow", "git")',
     'Type of parameter `match` doesn\'t match, expected `list`, actual `string (repr: "git")`'),
    ('prefix_rule(["git"], decision=["a\\n\\"b", 1, None, True, 2.5, {"k": [1]}])',
     "Type of parameter `decision` doesn't match, expected `str`, actual "
     '`list (repr: ["a\\n\\"b", 1, None, True, 2.5, {"k": [1]}])`'),
    ('prefix_rule(["git"], decision=["\\x01", "é", "\\t\\r", "\\x7f", "\\u200b", "\\\\", "\'"])',
     "Type of parameter `decision` doesn't match, expected `str`, actual "
     '`list (repr: ["\\x01", "\\xe9", "\\t\\r", "\\x7f", "\\u200b", "\\\\", "\'"])`'),
    ('prefix_rule(["git"], decision=["中", "Ā", "\\u0300", "\\u2028"])',
     "Type of parameter `decision` doesn't match, expected `str`, actual "
     '`list (repr: ["中", "Ā", "\\u0300", "\\u2028"])`'),
    # long reprs are shortened
    ('prefix_rule(["git"], match="' + "a" * 58 + '")',
     "Type of parameter `match` doesn't match, expected `list`, actual "
     '`string (repr: "' + "a" * 58 + '")`'),
    ('prefix_rule(["git"], match="' + "a" * 59 + '")',
     "Type of parameter `match` doesn't match, expected `list`, actual "
     '`string (repr: "' + "a" * 33 + "<<...>>" + "a" * 16 + '")`'),
    ('prefix_rule(["git"], match="' + "中" * 20 + "a" * 40 + '")',
     "Type of parameter `match` doesn't match, expected `list`, actual "
     '`string (repr: "' + "中" * 11 + "<<...>>" + "a" * 16 + '")`'),
    ('prefix_rule(["git"], decision=[' + ", ".join(map(str, range(30))) + "])",
     "Type of parameter `decision` doesn't match, expected `str`, actual "
     "`list (repr: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,<<...>>, 26, 27, 28, 29])`"),
    # 2. decision
    ('prefix_rule(["git"], decision="deny", justification="", match=[1])',
     "invalid decision: deny"),
    ('prefix_rule([1], decision="Allow", justification=" ")', "invalid decision: Allow"),
    ('prefix_rule(["git"], decision="prompt-user")', "invalid decision: prompt-user"),
    ('prefix_rule(["git"], decision="ask")', "invalid decision: ask"),
    ('prefix_rule(["git"], decision="")', "invalid decision: "),
    ('prefix_rule(["git"], decision=" allow")', "invalid decision:  allow"),
    # 3. justification
    ('prefix_rule([1], justification=" ")', "invalid rule: justification cannot be empty"),
    ('prefix_rule(["git"], "allow", [], [], "")', "invalid rule: justification cannot be empty"),
    # 4. pattern elements, left to right, then emptiness
    ('prefix_rule([1, []], match=[1])',
     "invalid pattern element: pattern element must be a string or list of strings (got int)"),
    ('prefix_rule(["git", [], 1])',
     "invalid pattern element: pattern alternatives cannot be empty"),
    ('prefix_rule(["git", [1], []])',
     "invalid pattern element: pattern alternative must be a string (got int)"),
    ('prefix_rule(["git", ["a", None]])',
     "invalid pattern element: pattern alternative must be a string (got NoneType)"),
    ('prefix_rule(["git", [True]])',
     "invalid pattern element: pattern alternative must be a string (got bool)"),
    ('prefix_rule(["git", None])',
     "invalid pattern element: pattern element must be a string or list of strings (got NoneType)"),
    ('prefix_rule(["git", True])',
     "invalid pattern element: pattern element must be a string or list of strings (got bool)"),
    ('prefix_rule(["git", {"a": "b"}])',
     "invalid pattern element: pattern element must be a string or list of strings (got dict)"),
    ('prefix_rule(["git", 1.0])',
     "invalid pattern element: pattern element must be a string or list of strings (got float)"),
    ('prefix_rule([], match=[1])', "invalid pattern element: pattern cannot be empty"),
    ('prefix_rule([[]], match=[1])',
     "invalid pattern element: pattern alternatives cannot be empty"),
    # 5. match, then not_match
    ('prefix_rule(["git"], match=[1], not_match=[2])',
     "invalid example: example must be a string or list of strings (got int)"),
    ('prefix_rule(["git"], match=["ok", "a \'b"], not_match=[2])',
     "invalid example: example string has invalid shell syntax"),
    ('prefix_rule(["git"], not_match=[[]])', "invalid example: example cannot be an empty list"),
    ('prefix_rule(["git"], not_match=[""])', "invalid example: example cannot be an empty string"),
    ('prefix_rule(["git"], match=["# only a comment"])',
     "invalid example: example cannot be an empty string"),
    ('prefix_rule(["git"], match=[["git", 1]])',
     "invalid example: example tokens must be strings (got int)"),
    ('prefix_rule(["git"], match=[["git"], {"a": 1}])',
     "invalid example: example must be a string or list of strings (got dict)"),
    ('prefix_rule(["git"], match=[True])',
     "invalid example: example must be a string or list of strings (got bool)"),
    ('prefix_rule(["git"], match=[None])',
     "invalid example: example must be a string or list of strings (got NoneType)"),
    ('prefix_rule(["git"], match=[1.5])',
     "invalid example: example must be a string or list of strings (got float)"),
]


@pytest.mark.parametrize(("source", "message"), PREFIX_RULE_ERRORS)
def test_prefix_rule_validation(source: str, message: str) -> None:
    assert message_of(source) == message


def test_tuples_are_read_as_lists() -> None:
    """Documented divergence (docs/compatibility.md): starlark-pyo3 converts a
    tuple to a list before our builtin sees it, so Codex's type error for a
    tuple becomes acceptance with the list's meaning."""
    (rule,) = load('prefix_rule(("git", ("a", "b")), match=[("git", "a")])').rules
    assert (rule.program, rule.rest) == ("git", (("a", "b"),))


def test_ranges_and_nan_are_still_rejected() -> None:
    """Documented divergence: the wording differs from Codex, the file still fails."""
    assert "not supported on type `range`" in message_of('prefix_rule(["git", range(3)])')
    assert message_of('prefix_rule(["git"], decision=float("nan"))') == (
        "Type of parameter `decision` doesn't match, expected `str`, actual "
        "`NoneType (repr: None)`")


def test_values_that_cannot_be_converted_still_fail_as_parse_errors() -> None:
    for source in ['prefix_rule(["git", lambda x: x])', 'prefix_rule(["git"], decision=len)',
                   'x = []\nx.append(x)\nprefix_rule(x)', 'prefix_rule([{(1, 2): 3}])']:
        assert isinstance(error_of(source), PolicyParseError)


def test_all_parameters_positionally_and_by_name() -> None:
    for source in [
        'prefix_rule(["git", "push"], "prompt", ["git push x"], ["git pull"], "why", True)',
        'prefix_rule(pattern=["git", "push"], decision="prompt", match=["git push x"],'
        ' not_match=["git pull"], justification="why", canonical_matching=True)',
        'prefix_rule(*[["git", "push"], "prompt"], **{"justification": "why",'
        ' "canonical_matching": True})',
    ]:
        (rule,) = load(source).rules
        assert (rule.program, rule.rest, rule.decision, rule.justification,
                rule.canonical_matching) == ("git", ("push",), Decision.PROMPT, "why", True)


def test_prefix_rule_defaults() -> None:
    (rule,) = load('prefix_rule(["ls"])').rules
    assert (rule.decision, rule.justification, rule.canonical_matching) == (
        Decision.ALLOW, None, False)


def test_builtins_return_none_and_copy_their_arguments() -> None:
    p = load('p = ["git"]\n'
             'r = prefix_rule(p, "prompt")\n'
             'p.append("push")\n'
             'paths = ["/usr/bin/git"]\n'
             'h = host_executable("git", paths)\n'
             'paths.append("/opt/git")\n'
             'n = network_rule("a.com", "http", "allow")\n'
             'if (r, h, n) != (None, None, None):\n'
             '    fail("a builtin returned a value")\n')
    assert [(r.program, r.rest) for r in p.rules] == [("git", ())]
    assert p.host_executables == {"git": ("/usr/bin/git",)}


# -- the loader's errors -----------------------------------------------------------------


def test_builtin_errors_carry_location_and_a_traceback_with_a_code_frame() -> None:
    error = error_of('prefix_rule(["ok"])',
                     '# second file\nx = 1\nprefix_rule(["git"], decision="deny")\n')
    assert error.message == "invalid decision: deny"
    assert error.path == "f1.rules"
    assert error.location == Location("f1.rules", 3, 1)
    assert error.from_starlark
    assert error.detail.startswith("Traceback (most recent call last):\n")
    assert "* f1.rules:3, in <module>" in error.detail
    assert "error: invalid decision: deny\n --> f1.rules:3:1\n" in error.detail
    assert '3 | prefix_rule(["git"], decision="deny")\n' in error.detail
    assert "  | " + "^" * len('prefix_rule(["git"], decision="deny")') in error.detail
    assert str(error) == "failed to parse policy at f1.rules:3:1: invalid decision: deny"


def test_syntax_errors_point_at_line_and_column() -> None:
    error = error_of('prefix_rule(["git"])\n\n  prefix_rule(["hg"])\n')
    assert error.location == Location("f0.rules", 3, 1)
    assert error.message.startswith("Parse error: unexpected new indentation block")
    assert " --> f0.rules:3:1\n" in error.detail
    assert '3 |   prefix_rule(["hg"])' in error.detail
    assert "Traceback" not in error.detail


def test_repeated_named_argument_points_at_the_repeated_name() -> None:
    error = error_of('prefix_rule(["git"], decision="allow", decision="prompt")')
    assert error.message == "repeated named argument"
    assert error.location == Location("f0.rules", 1, 40)


def test_unknown_names_are_reported_before_anything_runs() -> None:
    parser = PolicyParser()
    with pytest.raises(PolicyParseError) as caught:
        parser.parse("a.rules", 'prefix_rule(["git"])\nprint("x")\n')
    assert caught.value.message == "Variable `print` not found, did you mean `int`?"
    assert caught.value.location == Location("a.rules", 2, 1)
    assert parser.policy.rules == []


def test_runtime_failures_report_the_innermost_frame() -> None:
    error = error_of('def f():\n    fail("boom")\nf()\n')
    assert error.message == "fail: boom"
    assert error.location == Location("f0.rules", 2, 5)
    assert "* f0.rules:3, in <module>" in error.detail
    assert "* f0.rules:2, in f" in error.detail


def test_example_check_failures_have_no_location() -> None:
    error = error_of('prefix_rule(["git"], match=["hg"])')
    assert error.location is None
    assert not error.from_starlark
    assert error.detail == error.message
    assert error.message.startswith("expected every example to match at least one rule.")
    assert str(error).startswith("failed to parse policy at f0.rules: expected every example")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('load("foo.star", "x")',
         "No imports are available, you tried `foo.star` (no call to `Evaluator.set_loader`)"),
        ("def f():\n    return f()\nf()", "Starlark call stack overflow"),
        ("x = struct(a=1)", "Variable `struct` not found"),
    ],
)
def test_dialect_limits(source: str, message: str) -> None:
    assert message_of(source) == message


def test_dialect_features_users_rely_on() -> None:
    p = load(
        'tools: list = ["git", "hg"]\n'
        'def deny(*names, **kw):\n'
        '    for n in names:\n'
        '        prefix_rule([n, "push"], "forbidden", **kw)\n'
        'count = len(tools)\n'
        'deny(*tools, **{"justification": f"no {count} pushes"})\n'
        'prefix_rule([t for t in ["a", "b"] if t != "b"], "%s" % "prompt")\n'
        'prefix_rule(["{}".format("c")]); prefix_rule(["d"],)\r\n'
        "prefix_rule([r'e\\x', '''f'''], justification=\"\"\"j\"\"\")"
    )
    assert [(r.program, r.rest, r.decision.value, r.justification) for r in p.rules] == [
        ("git", ("push",), "forbidden", "no 2 pushes"),
        ("hg", ("push",), "forbidden", "no 2 pushes"),
        ("a", (), "prompt", None),
        ("c", (), "allow", None),
        ("d", (), "allow", None),
        ("e\\x", ("f",), "allow", "j"),
    ]


# -- a bad file never half-loads ----------------------------------------------------------

GOOD = ('prefix_rule(["git"], "prompt")\n'
        'host_executable("git", ["/usr/bin/git"])\n'
        'network_rule("good.com", "https", "allow")\n')


@pytest.mark.parametrize(
    "bad",
    [
        # fails while evaluating, after defining one of everything
        'prefix_rule(["rm"], "forbidden")\nhost_executable("git", ["/opt/git"])\n'
        'host_executable("ls", [])\nnetwork_rule("bad.com", "http", "deny")\n'
        'prefix_rule(["x"], decision="nope")',
        # fails in a deferred example check, after the whole file ran
        'prefix_rule(["rm"], "forbidden")\nhost_executable("git", ["/opt/git"])\n'
        'network_rule("bad.com", "http", "deny")\nprefix_rule(["x"], match=["y"])',
        # fails at parse time
        'prefix_rule(["rm"], "forbidden")\nwhile True: pass',
    ],
)
def test_a_failing_file_leaves_the_policy_as_it_was(bad: str) -> None:
    parser = PolicyParser()
    parser.parse("good.rules", GOOD)
    with pytest.raises(PolicyParseError):
        parser.parse("bad.rules", bad)
    policy = parser.policy
    assert [(r.program, r.decision) for r in policy.rules] == [("git", Decision.PROMPT)]
    assert policy.host_executables == {"git": ("/usr/bin/git",)}
    assert [(n.host, n.decision) for n in policy.network_rules] == [("good.com", Decision.ALLOW)]
    assert policy.decision(["rm", "-rf"]) is None
    # the parser stays usable
    parser.parse("later.rules", 'prefix_rule(["ls"])')
    assert policy.decision(["ls"]) is Decision.ALLOW


def test_each_file_gets_a_fresh_module_while_rules_accumulate() -> None:
    parser = PolicyParser()
    parser.parse("a.rules", 'x = "git"\nprefix_rule([x])')
    with pytest.raises(PolicyParseError) as caught:
        parser.parse("b.rules", "prefix_rule([x])")
    assert caught.value.message == "Variable `x` not found"
    parser.parse("c.rules", 'x = "hg"\nprefix_rule([x])')
    assert [r.program for r in parser.policy.rules] == ["git", "hg"]


def test_a_parser_can_extend_an_existing_policy() -> None:
    base = load('prefix_rule(["git"])')
    parser = PolicyParser(base)
    parser.parse("more.rules", 'prefix_rule(["git"], "forbidden")')
    assert parser.policy is base
    assert base.decision(["git"]) is Decision.FORBIDDEN


# -- §3.2 host_executable -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('host_executable("", ["x"])', "invalid rule: host_executable name cannot be empty"),
        ('host_executable("", [1])', "invalid rule: host_executable name cannot be empty"),
        ('host_executable("a/b", [1])',
         "invalid rule: host_executable name must be a bare executable name (got a/b)"),
        ('host_executable(".", [])',
         "invalid rule: host_executable name must be a bare executable name (got .)"),
        ('host_executable("..", ["/x/.."])',
         "invalid rule: host_executable name must be a bare executable name (got ..)"),
        ('host_executable("git", [1, "rel"])',
         "invalid rule: host_executable paths must be strings (got int)"),
        ('host_executable("git", [None])',
         "invalid rule: host_executable paths must be strings (got NoneType)"),
        ('host_executable("git", [["/usr/bin/git"]])',
         "invalid rule: host_executable paths must be strings (got list)"),
        ('host_executable("git", ["rel", 1])',
         "invalid rule: host_executable paths must be absolute (got rel)"),
        ('host_executable("git", ["/x/git", "rel"])',
         "invalid rule: host_executable paths must be absolute (got rel)"),
        ('host_executable("git", [""])',
         "invalid rule: host_executable paths must be absolute (got )"),
        ('host_executable("git", ["./git"])',
         "invalid rule: host_executable paths must be absolute (got ./git)"),
        ('host_executable("git", ["~"])',
         "invalid rule: host_executable paths must be absolute (got ~)"),
        ('host_executable("git", ["~/bin/git"])',
         "invalid rule: host_executable paths must be absolute (got ~/bin/git)"),
        ('host_executable("git", ["~user/bin/git"])',
         "invalid rule: host_executable paths must be absolute (got ~user/bin/git)"),
        ('host_executable("git", ["/x/hg", "rel"])',
         "invalid rule: host_executable path `/x/hg` must have basename `git`"),
        ('host_executable("git", ["/usr/bin/GIT"])',
         "invalid rule: host_executable path `/usr/bin/GIT` must have basename `git`"),
        ('host_executable("git", ["/"])',
         "invalid rule: host_executable path `/` must have basename `git`"),
        ('host_executable("git", ["/.."])',
         "invalid rule: host_executable path `/..` must have basename `git`"),
        ('host_executable("git", ["/usr/bin/git/.."])',
         "invalid rule: host_executable path `/usr/bin/git/..` must have basename `git`"),
        ('host_executable("git")', "Missing parameter `paths` for call to `host_executable`"),
        ('host_executable("git", "x")',
         'Type of parameter `paths` doesn\'t match, expected `list`, actual `string (repr: "x")`'),
        ('host_executable(name=None, paths=[])',
         "Type of parameter `name` doesn't match, expected `str`, actual `NoneType (repr: None)`"),
        ('host_executable(1, 2, 3, name=4)', "Argument `name` occurs more than once"),
    ],
)
def test_host_executable_validation(source: str, message: str) -> None:
    assert message_of(source) == message


def test_host_executable_paths_are_normalised_and_deduplicated() -> None:
    p = load('host_executable("git", ["/usr//bin/./git", "/usr/bin/../bin/git", "/usr/bin/git/",'
             ' "//git", "/../git"])\n'
             'host_executable("bin", ["/usr/bin/git/.."])\n'
             'host_executable("my tool", ["/opt/my tool"])\n'
             'host_executable("git.exe", ["/x/git.exe"])\n'
             'host_executable("a\\\\b", ["/x/a\\\\b"])\n'
             'host_executable("none", [])')
    assert p.host_executables == {
        "git": ("/usr/bin/git", "/git"),
        "bin": ("/usr/bin",),
        "my tool": ("/opt/my tool",),
        "git.exe": ("/x/git.exe",),
        "a\\b": ("/x/a\\b",),
        "none": (),
    }


def test_host_executable_last_definition_wins_within_and_across_files() -> None:
    p = load('host_executable("git", ["/a/git"])\nhost_executable("git", ["/b/git"])\n'
             'host_executable("hg", ["/a/hg"])',
             'host_executable("git", ["/c/git", "/d/git"])')
    assert p.host_executables == {"git": ("/c/git", "/d/git"), "hg": ("/a/hg",)}


def test_host_executable_gates_rules_of_every_file_at_check_time() -> None:
    p = load('prefix_rule(["git"], "prompt")', 'host_executable("git", ["/usr/bin/git"])')
    assert p.matches(["/opt/git"], resolve_host_executables=True) == []
    assert [m.resolved_program for m in p.matches(["/usr/bin/git"], resolve_host_executables=True)
            ] == ["/usr/bin/git"]


def test_examples_see_host_executables_of_their_file_and_earlier_files_only() -> None:
    rule = 'prefix_rule(["git"], match=["/opt/git status"])'
    deny = 'host_executable("git", ["/usr/bin/git"])'
    # defined in a later file: this file's examples do not see it
    load(rule, deny)
    # defined earlier in the same file, later in the same file, or in an earlier file
    for sources in [(deny + "\n" + rule,), (rule + "\n" + deny,), (deny, rule)]:
        error = error_of(*sources)
        assert error.message.endswith('unmatched examples: ["/opt/git status"]')
    # a later entry in the same file replaces an earlier one for the examples too
    load(deny + "\n" + rule + '\nhost_executable("git", ["/opt/git"])')


# -- §3.3 network_rule --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("example.com", "example.com"),
        (" Example.COM. ", "example.com"),
        ("EXAMPLE.com..", "example.com"),
        ("example.com:443", "example.com"),
        ("example.com.:443", "example.com"),
        ("1.2.3.4:80", "1.2.3.4"),
        ("a.:1", "a"),
        ("a]:1", "a]"),
        ("example.com:abc", "example.com:abc"),
        (":80", ":80"),
        ("a:b:c", "a:b:c"),
        ("example.com:", "example.com:"),
        ("a:８０", "a:８０"),  # not ASCII digits: kept
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("[::1]:443", "::1"),
        ("[FE80::1]", "fe80::1"),
        ("[ a ]", "a"),
        ("ÉXAMPLE.com", "Éxample.com"),  # ASCII lower-casing only
        ("a\x1fb", "a\x1fb"),  # U+001F is not whitespace for Rust
        ("x\u200by", "x\u200by"),
    ],
)
def test_network_rule_host_normalisation(raw: str, host: str) -> None:
    assert normalize_network_host(raw) == host
    p = Policy()
    p.add_network_rule(raw, "http", "allow")
    assert p.network_rules[0].host == host


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "cannot be empty"),
        (" ", "cannot be empty"),
        ("\u3000", "cannot be empty"),
        (".", "cannot be empty"),
        ("..", "cannot be empty"),
        (" . ", "cannot be empty"),
        ("[]", "cannot be empty"),
        ("[ ]", "cannot be empty"),
        ("[.]", "cannot be empty"),
        ("http://x", "must be a hostname or IP literal (without scheme or path)"),
        ("a/b", "must be a hostname or IP literal (without scheme or path)"),
        ("a?b", "must be a hostname or IP literal (without scheme or path)"),
        ("a#b", "must be a hostname or IP literal (without scheme or path)"),
        ("[::1", "has an invalid bracketed IPv6 literal"),
        ("[::1]x", "contains an unsupported suffix: [::1]x"),
        ("[::1]:", "contains an unsupported suffix: [::1]:"),
        ("[::1]:a", "contains an unsupported suffix: [::1]:a"),
        ("[::1]:443:1", "contains an unsupported suffix: [::1]:443:1"),
        ("[[::1]]", "contains an unsupported suffix: [[::1]]"),
        ("[a]:١", "contains an unsupported suffix: [a]:١"),
        (" [::1]:x ", "contains an unsupported suffix:  [::1]:x "),  # raw, untrimmed
        ("*.example.com", "must be a specific host; wildcards are not allowed"),
        ("*", "must be a specific host; wildcards are not allowed"),
        ("a b", "cannot contain whitespace"),
        ("a\u3000b", "cannot contain whitespace"),
        ("a\xa0b", "cannot contain whitespace"),
    ],
)
def test_network_rule_host_rejections(raw: str, reason: str) -> None:
    with pytest.raises(PolicyError) as caught:
        normalize_network_host(raw)
    assert caught.value.message == f"invalid rule: network_rule host {reason}"
    source = f"network_rule({raw!r}, 'http', 'allow')".replace("\\x", "\\u00")
    assert message_of(source) == f"invalid rule: network_rule host {reason}"


@pytest.mark.parametrize(
    ("protocol", "parsed"),
    [("http", NetworkProtocol.HTTP), ("https", NetworkProtocol.HTTPS),
     ("https_connect", NetworkProtocol.HTTPS), ("http-connect", NetworkProtocol.HTTPS),
     ("socks5_tcp", NetworkProtocol.SOCKS5_TCP), ("socks5_udp", NetworkProtocol.SOCKS5_UDP)],
)
def test_network_rule_protocols(protocol: str, parsed: NetworkProtocol) -> None:
    (rule,) = load(f'network_rule("a.com", "{protocol}", "allow")').network_rules
    assert rule.protocol is parsed


@pytest.mark.parametrize(
    ("decision", "parsed"),
    [("allow", Decision.ALLOW), ("prompt", Decision.PROMPT), ("forbidden", Decision.FORBIDDEN),
     ("deny", Decision.FORBIDDEN)],
)
def test_network_rule_decisions(decision: str, parsed: Decision) -> None:
    (rule,) = load(f'network_rule("a.com", "http", "{decision}", "why")').network_rules
    assert (rule.decision, rule.justification) == (parsed, "why")


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('network_rule("*", "ftp", "ask", "")',
         "invalid rule: network_rule protocol must be one of http, https, socks5_tcp, socks5_udp "
         "(got ftp)"),
        ('network_rule("a.com", "HTTP", "allow")',
         "invalid rule: network_rule protocol must be one of http, https, socks5_tcp, socks5_udp "
         "(got HTTP)"),
        ('network_rule("*", "http", "ask", "")', "invalid decision: ask"),
        ('network_rule("a.com", "https_connect", "DENY")', "invalid decision: DENY"),
        ('network_rule("*", "http", "deny", "")', "invalid rule: justification cannot be empty"),
        ('network_rule("a.com", "http", "allow", "\\u3000")',
         "invalid rule: justification cannot be empty"),
        ('network_rule("*", "http", "deny", "ok")',
         "invalid rule: network_rule host must be a specific host; wildcards are not allowed"),
        ('network_rule("a.com", "http")',
         "Missing parameter `decision` for call to `network_rule`"),
        ('network_rule(1, 2, 3)',
         "Type of parameter `host` doesn't match, expected `str`, actual `int (repr: 1)`"),
        ('network_rule("a.com", "http", "allow", None)',
         "Type of parameter `justification` doesn't match, expected `str`, actual "
         "`NoneType (repr: None)`"),
        ('network_rule(foo=1, host="a", protocol="http", decision="allow")',
         "Found `foo` extra named parameter(s) for call to network_rule"),
    ],
)
def test_network_rule_validation_order(source: str, message: str) -> None:
    assert message_of(source) == message


def test_network_rules_keep_definition_order_across_files() -> None:
    p = load('network_rule("B.com", "http", "allow")\nnetwork_rule("a.com:1", "https", "deny")',
             'network_rule("c.com", "socks5_udp", "prompt")')
    assert [(n.host, n.protocol.value, n.decision.value, n.justification)
            for n in p.network_rules] == [
        ("b.com", "http", "allow", None), ("a.com", "https", "forbidden", None),
        ("c.com", "socks5_udp", "prompt", None)]
    assert p.rules == []
    assert p.decision(["b.com"]) is None  # network rules never match commands


# -- Rust whitespace for justifications -----------------------------------------------------


@pytest.mark.parametrize(
    "text", ["\x1f", "\x1c", "\x1d", "\x1e", "\u200b", "\u180e", "\ufeff", "x", " x "])
def test_justification_that_rust_does_not_consider_blank(text: str) -> None:
    (rule,) = load(f"prefix_rule(['git'], justification={text!r})").rules
    assert rule.justification == text  # kept as written, not trimmed


@pytest.mark.parametrize(
    "text",
    ["", " ", "\t\n", "\x0b", "\x0c", "\r", "\x85", "\xa0", "\u1680", "\u2000", "\u200a",
     "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", " \u3000\xa0\u2028 "],
)
def test_justification_that_is_blank_for_rust(text: str) -> None:
    literal = _starlark_literal(text)
    assert message_of(f"prefix_rule(['git'], justification={literal})") == (
        "invalid rule: justification cannot be empty")
    assert message_of(f"network_rule('a.com', 'http', 'allow', {literal})") == (
        "invalid rule: justification cannot be empty")


def test_rust_trim() -> None:
    assert rust_trim("\x1f a \u3000") == "\x1f a"
    assert rust_trim("\u200b\xa0") == "\u200b"
    assert rust_trim("\x85\x0b\x0cx\r\n") == "x"


def _starlark_literal(text: str) -> str:
    return '"' + "".join(f"\\u{ord(c):04x}" for c in text) + '"'
