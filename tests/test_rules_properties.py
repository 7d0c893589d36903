"""Properties of the `.rules` loader and matcher, checked on generated input.

1. No rules file crashes the loader: it either loads or raises
   `PolicyParseError`, and a failing file leaves the policy untouched.
2. The decision for a command is the strictest decision of the rules a naive
   reference matcher (written here from the spec) says match; unmatched
   commands get no decision.
3. `split_example(join_example(tokens)) == tokens`.
4. The policy cache's encoding round-trips to an equivalent policy.
"""

from __future__ import annotations

import marshal
import unicodedata
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execguard.execpolicy import Decision, Policy, PolicyParseError, PolicyParser, Resolution
from execguard.execpolicy.cache import _decode, _encode
from execguard.execpolicy.render import join_example, split_example

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def starlark_str(text: str) -> str:
    """A Starlark string literal for any text (no surrogates)."""
    out = []
    for c in text:
        code = ord(c)
        if c in '"\\':
            out.append("\\" + c)
        elif 0x20 <= code < 0x7F:
            out.append(c)
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def snapshot(policy: Policy) -> tuple[object, ...]:
    return (list(policy.rules), dict(policy.host_executables), list(policy.network_rules))


# -- 1. the loader never crashes ---------------------------------------------------------------

any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)

# Values of every type a rules file can pass to a builtin, written as Starlark source.
leaf_values = st.one_of(
    any_text.map(starlark_str),
    st.sampled_from(["allow", "prompt", "forbidden", "deny", "Allow", "ask", "", " ", "http",
                     "https", "https_connect", "socks5_udp", "ftp", "git", "/usr/bin/git",
                     "~/bin/git", "./git", "git status", "git 'x", "# c", "example.com:443",
                     "[::1]:80", "*.x.com", "\u3000", "\x1f"]).map(starlark_str),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["None", "True", "False", 'float("nan")', 'float("-inf")', "range(3)",
                     "len", "lambda: 1", "prefix_rule", "()", "{}", "[]", "[[]]"]),
)


def _containers(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(children, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(children, max_size=3).map(lambda xs: "(" + "".join(x + ", " for x in xs) + ")"),
        st.lists(st.tuples(leaf_values, children), max_size=3).map(
            lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"),
    )


values = st.recursive(leaf_values, _containers, max_leaves=12)

PARAMS = ["pattern", "decision", "match", "not_match", "justification", "canonical_matching",
          "name", "paths", "host", "protocol", "reviewer", "x"]
BUILTINS = ["prefix_rule", "host_executable", "network_rule"]


@st.composite
def calls(draw: st.DrawFn) -> str:
    function = draw(st.sampled_from([*BUILTINS, *BUILTINS, "undefined_builtin"]))
    positional = draw(st.lists(values, max_size=7))
    names = draw(st.lists(st.sampled_from(PARAMS), max_size=4))  # duplicates allowed
    named = [f"{n}={draw(values)}" for n in names]
    tail = draw(st.sampled_from(["", "*[{0}]", "**{{{1}: {0}}}"]))
    parts = positional + named
    if tail:
        parts.append(tail.format(draw(values), starlark_str(draw(st.sampled_from(PARAMS)))))
    return f"{function}({', '.join(parts)})"


@st.composite
def plausible_calls(draw: st.DrawFn) -> str:
    """Calls that are often valid, so evaluation goes past the binding checks."""
    tokens = st.sampled_from(["git", "GIT", "hg", "", "status", "-x", "a b", "é", "/usr/bin/git"])
    element = st.one_of(tokens.map(starlark_str),
                        st.lists(tokens.map(starlark_str), max_size=3).map(
                            lambda xs: "[" + ", ".join(xs) + "]"))
    pattern = "[" + ", ".join(draw(st.lists(element, max_size=4))) + "]"
    example = st.one_of(
        st.lists(tokens, min_size=1, max_size=3).map(lambda ts: starlark_str(" ".join(ts))),
        st.lists(tokens.map(starlark_str), max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        values,
    )
    kind = draw(st.sampled_from(BUILTINS))
    if kind == "prefix_rule":
        args = [pattern]
        if draw(st.booleans()):
            args.append("decision=" + starlark_str(draw(st.sampled_from(
                ["allow", "prompt", "forbidden", "deny"]))))
        for key in ("match", "not_match"):
            if draw(st.booleans()):
                args.append(f"{key}=[" + ", ".join(draw(st.lists(example, max_size=3))) + "]")
        if draw(st.booleans()):
            args.append("canonical_matching=" + draw(st.sampled_from(["True", "False"])))
        return f"prefix_rule({', '.join(args)})"
    if kind == "host_executable":
        name = draw(st.sampled_from(["git", "GIT", "hg", "", "a/b"]))
        paths = draw(st.lists(st.sampled_from(["/usr/bin/git", "/opt/git", "/usr/bin/hg", "git",
                                               "/", "/usr/bin/../bin/git"]), max_size=3))
        return f"host_executable({starlark_str(name)}, [{', '.join(map(starlark_str, paths))}])"
    host = draw(st.sampled_from(["a.com", "B.com:443", "[::1]", "*.x", "", "a b", "x/y"]))
    protocol = draw(st.sampled_from(["http", "https", "http-connect", "udp"]))
    decision = draw(st.sampled_from(["allow", "deny", "prompt", "ask"]))
    return f"network_rule({', '.join(map(starlark_str, (host, protocol, decision)))})"


NOISE = [
    "x = 1", "pass", "fail(\"boom\")", "def f():\n    return 1", "def g():\n    return g()\ng()",
    "if True:\n    pass", "for i in range(2):\n    pass", "while True: pass",
    "load(\"x.star\", \"y\")",
    "print(1)", "x = 1 // 0", ")", "(", "[", "prefix_rule(", "\"unterminated", "'''", "\t  x = 1",
    "  pass", "\\", "lambda: 1", "x: str = \"git\"", "f\"{x}\"", "# comment", "\ufeff", "\r", ";",
    "x = [i for i in range(3)]", "y = {\"a\": 1}[\"b\"]", "z = [1][5]", "None()", "1 + \"a\"",
]

statements = st.one_of(calls(), plausible_calls(), st.sampled_from(NOISE))
programs = st.tuples(
    st.lists(statements, max_size=6), st.sampled_from(["\n", ";", "\r\n", "\n\n"])
).map(lambda parts: parts[1].join(parts[0]))

GOOD = ('prefix_rule(["git"], "prompt", match=["git x"])\n'
        'host_executable("git", ["/usr/bin/git"])\nnetwork_rule("a.com", "http", "allow")')


def assert_loads_or_fails_cleanly(source: str) -> None:
    parser = PolicyParser()
    parser.parse("good.rules", GOOD)
    before = snapshot(parser.policy)
    try:
        parser.parse("random.rules", source)
    except PolicyParseError as error:
        assert snapshot(parser.policy) == before
        assert isinstance(error.message, str)
        assert error.location is None or error.location.file == "random.rules"
    else:
        rules, _, network = snapshot(parser.policy)
        assert isinstance(rules, list) and isinstance(network, list)
        assert rules[:1] == before[0] and network[:1] == before[2]


@SETTINGS
@given(st.text(max_size=200))
def test_no_text_crashes_the_loader(source: str) -> None:
    assert_loads_or_fails_cleanly(source)


@SETTINGS
@given(st.lists(st.sampled_from(["prefix_rule", "(", ")", "[", "]", "{", "}", ",", "=", ":",
                                 '"git"', "'a'", "1", "None", "True", "*", "**", "\n", " ",
                                 "    ", "decision", "match", "x", "def", "lambda", "for", "in",
                                 "if", "#", "\\", '"""', "f", ".", "+", "-"]), max_size=40))
def test_no_token_soup_crashes_the_loader(tokens: list[str]) -> None:
    assert_loads_or_fails_cleanly("".join(tokens))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_no_program_of_builtin_calls_crashes_the_loader(source: str) -> None:
    assert_loads_or_fails_cleanly(source)


# -- 2. decisions agree with a naive reference matcher -----------------------------------------

TOKENS = ["git", "GIT", "Git", "hg", "", "push", "PUSH", "straße", "STRASSE", "é", "e\u0301",
          "ǅ", "σ", "ς", "-f", "/usr/bin/git", "a b"]
tokens = st.sampled_from(TOKENS)
alternatives = st.lists(tokens, min_size=1, max_size=3)


@dataclass(frozen=True)
class ModelRule:
    pattern: tuple[tuple[str, ...], ...]  # first element: program alternatives
    decision: str
    justification: str | None
    canonical: bool

    def source(self) -> str:
        elements = [starlark_str(e[0]) if len(e) == 1 and i else
                    "[" + ", ".join(map(starlark_str, e)) + "]"
                    for i, e in enumerate(self.pattern)]
        extra = ("" if self.justification is None
                 else f", justification={starlark_str(self.justification)}")
        return (f"prefix_rule([{', '.join(elements)}], {starlark_str(self.decision)}"
                f"{extra}, canonical_matching={self.canonical})")


model_rules = st.builds(
    ModelRule,
    pattern=st.lists(alternatives.map(tuple), min_size=1, max_size=4).map(tuple),
    decision=st.sampled_from(["allow", "prompt", "forbidden"]),
    justification=st.one_of(st.none(), st.sampled_from(["why", "é"])),
    canonical=st.booleans(),
)
commands = st.lists(st.one_of(tokens, st.text(max_size=3)), max_size=5)
STRICTNESS = {"allow": 0, "prompt": 1, "forbidden": 2}


def fold(text: str) -> str:
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", text).casefold())


def same(rule: ModelRule, want: str, got: str) -> bool:
    return fold(want) == fold(got) if rule.canonical else want == got


def model_matches(rules: list[ModelRule], command: list[str], *,
                  exact_only: bool = False) -> list[tuple[object, ...]]:
    """Every (rule, program spelling) that matches, as comparable rows, in
    definition order; ``exact_only`` keeps spellings equal to ``command[0]``."""
    found: list[tuple[object, ...]] = []
    for rule in rules:
        for program in rule.pattern[0]:
            rest = rule.pattern[1:]
            if exact_only and command and program != command[0]:
                continue
            if (command and len(command) > len(rest) and same(rule, program, command[0])
                    and all(any(same(rule, alt, command[i]) for alt in alts)
                            for i, alts in enumerate(rest, 1))):
                found.append((tuple(command[: len(rest) + 1]), rule.decision, rule.justification))
    return found


def model_decision(found: list[tuple[object, ...]]) -> str | None:
    return max((str(f[1]) for f in found), key=STRICTNESS.__getitem__, default=None)


def load_model(rules: list[ModelRule], split: int) -> Policy:
    parser = PolicyParser()
    parser.parse("a.rules", "\n".join(r.source() for r in rules[:split]))
    parser.parse("b.rules", "\n".join(r.source() for r in rules[split:]))
    return parser.policy


def rows(policy: Policy, command: list[str], **kwargs: object) -> list[tuple[object, ...]]:
    return [(tuple(m.matched_prefix), m.decision.value, m.justification)
            for m in policy.matches(command, **kwargs)]  # type: ignore[arg-type]


@SETTINGS
@given(st.lists(model_rules, max_size=8), st.integers(0, 8), st.lists(commands, min_size=1,
                                                                        max_size=6))
def test_decision_is_the_strictest_of_the_rules_that_match(
    rules: list[ModelRule], split: int, command_list: list[list[str]]
) -> None:
    policy = load_model(rules, split)
    for command in command_list:
        expected = model_matches(rules, command)
        found = rows(policy, command)
        assert sorted(found, key=repr) == sorted(expected, key=repr)
        # Rules spelled exactly like the command come first, in definition order;
        # the order among other (canonical) spellings is unspecified.
        exact = model_matches(rules, command, exact_only=True)
        assert found[: len(exact)] == exact
        decision = policy.decision(command)
        assert (decision.value if decision else None) == model_decision(expected)
        if not expected:
            assert decision is None  # unknown never becomes allow
            assert policy.check(command).to_json() == {"matchedRules": []}


DIRS = ["/usr/bin", "/opt", "/usr/local/bin"]


@st.composite
def host_entries(draw: st.DrawFn) -> dict[str, list[str]]:
    names = draw(st.lists(st.sampled_from(["git", "GIT", "hg", "push"]), max_size=3, unique=True))
    return {n: draw(st.lists(st.sampled_from([f"{d}/{n}" for d in DIRS]), max_size=3))
            for n in names}


@SETTINGS
@given(st.lists(model_rules, max_size=8), host_entries(), st.sampled_from(DIRS),
       st.sampled_from(TOKENS), st.lists(tokens, max_size=3))
def test_resolution_agrees_with_a_naive_reference(
    rules: list[ModelRule], entries: dict[str, list[str]], directory: str, program: str,
    rest: list[str],
) -> None:
    if not program or "/" in program:
        program = "git"
    source = "\n".join(f"host_executable({starlark_str(n)}, [{', '.join(map(starlark_str, ps))}])"
                       for n, ps in entries.items())
    policy = load_model(rules, len(rules))
    PolicyParser(policy).parse("hosts.rules", source)
    path = f"{directory}/{program}"
    command = [path, *rest]
    expected = model_matches(rules, command)
    gated = program in entries and path not in entries[program]  # the basename gate
    if not expected and not gated:
        for rule in rules:
            # the per-rule gate: only spellings this path may stand for
            allowed = tuple(p for p in rule.pattern[0] if p not in entries or path in entries[p])
            if allowed:
                narrowed = ModelRule((allowed, *rule.pattern[1:]), rule.decision,
                                     rule.justification, rule.canonical)
                expected += model_matches([narrowed], [program, *rest])
    found = policy.matches(command, resolve_host_executables=True,
                           resolution=Resolution(cwd="/", home="/root"))
    assert sorted(((tuple(m.matched_prefix), m.decision.value, m.justification) for m in found),
                  key=repr) == sorted(expected, key=repr)
    exact = bool(model_matches(rules, command))
    assert all(m.resolved_program == (None if exact else path) for m in found)


# -- 3. examples round-trip through join and split ---------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"))))
def test_join_then_split_gives_the_tokens_back(tokens: list[str]) -> None:
    assert split_example(join_example(tokens)) == tokens


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.sampled_from("ab '\"\\$`!^#\n\t~*=é"))))
def test_join_then_split_with_shell_metacharacters(tokens: list[str]) -> None:
    assert split_example(join_example(tokens)) == tokens


# -- 4. the policy cache round-trips -----------------------------------------------------------

network_rules = st.tuples(
    st.sampled_from(["a.com", "B.com:443", "[::1]", "x.org."]),
    st.sampled_from(["http", "https", "socks5_tcp", "socks5_udp"]),
    st.sampled_from(["allow", "prompt", "deny"]),
    st.one_of(st.none(), st.just("j")),
)


@SETTINGS
@given(st.lists(model_rules, max_size=8), host_entries(), st.lists(network_rules, max_size=4),
       st.lists(st.one_of(commands, st.tuples(st.sampled_from(DIRS), tokens, commands).map(
           lambda t: [f"{t[0]}/{t[1]}", *t[2]])), max_size=6))
def test_cache_encoding_round_trips(
    rules: list[ModelRule], entries: dict[str, list[str]],
    network: list[tuple[str, str, str, str | None]], command_list: list[list[str]],
) -> None:
    policy = load_model(rules, len(rules))
    for name, paths in entries.items():
        policy.set_host_executable(name, paths)
    for host, protocol, decision, justification in network:
        policy.add_network_rule(host, protocol, decision, justification)
    decoded = _decode(*marshal.loads(marshal.dumps(_encode(policy))))
    assert decoded.rules == policy.rules
    assert decoded.host_executables == policy.host_executables
    assert decoded.network_rules == policy.network_rules
    assert decoded.allowed_prefixes() == policy.allowed_prefixes()
    assert decoded.compiled_network_domains() == policy.compiled_network_domains()
    resolution = Resolution(cwd="/w", home="/h")
    for command in command_list:
        for resolve in (False, True):
            assert decoded.matches(command, resolve_host_executables=resolve,
                                   resolution=resolution) == policy.matches(
                command, resolve_host_executables=resolve, resolution=resolution)
        assert decoded.decision(command) == policy.decision(command)
    assert all(isinstance(d, Decision) for d in (r.decision for r in decoded.rules))
