"""`match` / `not_match` examples: how they are split, checked and reported (spec §4).

Expected texts were checked against codex-cli 0.169.0.
"""

from __future__ import annotations

import pytest

from execguard.execpolicy import PolicyParseError, load_policy_from_strings
from execguard.execpolicy.render import join_example, rust_debug_list, rust_debug_str, split_example


def failure(*sources: str) -> str:
    with pytest.raises(PolicyParseError) as caught:
        load_policy_from_strings([(f"f{i}.rules", s) for i, s in enumerate(sources)])
    return caught.value.message


def loads(*sources: str) -> None:
    load_policy_from_strings([(f"f{i}.rules", s) for i, s in enumerate(sources)])


def rule_debug(first: str, rest: str = "", decision: str = "Allow", canonical: str = "false",
               justification: str = "None") -> str:
    """A rule's Debug text as it appears (escaped once more) in a `match` failure."""
    return (f'"PrefixRule {{ pattern: PrefixPattern {{ canonical_matching: {canonical}, '
            f'first: \\"{first}\\", rest: [{rest}] }}, decision: {decision}, '
            f'justification: {justification} }}"')


# -- splitting string examples (Rust `shlex`) ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("git status", ["git", "status"]),
        ("a\tb\nc", ["a", "b", "c"]),
        ("  git   log  ", ["git", "log"]),
        # `#` at the start of a word comments out the rest of the line
        ("git #x", ["git"]),
        ("x #", ["x"]),
        ("git#x y", ["git#x", "y"]),
        ("#c\ngit", ["git"]),
        ("  # c\n  a b # d\n e", ["a", "b", "e"]),
        ("x\n#\ny", ["x", "y"]),
        ("a\\#b", ["a#b"]),
        ("a \\#b", ["a", "#b"]),
        ("'#' x", ["#", "x"]),
        # quotes
        ("a 'b c' d", ["a", "b c", "d"]),
        ('a "b c" d', ["a", "b c", "d"]),
        ("''", [""]),
        ('""', [""]),
        ("'' x", ["", "x"]),
        ("a''b", ["ab"]),
        ("'a'\"b\"c", ["abc"]),
        ('x "\'"', ["x", "'"]),
        ("x '\"'", ["x", '"']),
        ('"a\nb"', ["a\nb"]),
        # backslashes: inside double quotes only $ ` " \ and newline are escapes
        ('a "b\\$c"', ["a", "b$c"]),
        ('a "b\\`c\\"d\\\\e"', ["a", 'b`c"d\\e']),
        ('a "b\\qc"', ["a", "b\\qc"]),
        ('a "b\\\nc"', ["a", "bc"]),
        ("'\\'", ["\\"]),
        ("'a\\nb'", ["a\\nb"]),
        ("a b\\ c", ["a", "b c"]),
        ("a\\\nb", ["ab"]),
        ("\\q", ["q"]),
        # only space, tab and newline separate words
        ("a\rb", ["a\rb"]),
        ("a\x0bb", ["a\x0bb"]),
        ("a\xa0b", ["a\xa0b"]),
        ("é ü", ["é", "ü"]),
        # nothing left
        ("", []),
        ("   ", []),
        ("\t\n", []),
        ("# c", []),
    ],
)
def test_split_example(text: str, tokens: list[str]) -> None:
    assert split_example(text) == tokens


@pytest.mark.parametrize("text", ["a\\", "\\", "a 'b", "'", 'a "b', 'a "b\\', '"\\"', "x 'y' 'z"])
def test_split_example_rejects_unterminated_quotes_and_trailing_backslashes(text: str) -> None:
    assert split_example(text) is None
    message = failure(f"prefix_rule(['git'], match=[{text!r}])")
    assert message == "invalid example: example string has invalid shell syntax"


@pytest.mark.parametrize("text", ["", "   ", "# only a comment", "\n\t"])
def test_string_examples_without_tokens_are_rejected(text: str) -> None:
    message = failure(f"prefix_rule(['git'], not_match=[{text!r}])")
    assert message == "invalid example: example cannot be an empty string"


def test_string_and_list_examples_are_equivalent() -> None:
    loads('prefix_rule(["git", "commit", "-m"], match=["git commit -m \'a message\'",'
          ' ["git", "commit", "-m", "a message"], "git commit -m \\"x\\" # why"])')


# -- rendering examples (shlex `try_join`) -----------------------------------------------------


@pytest.mark.parametrize(
    ("token", "rendered"),
    [
        ("git", "git"),
        ("a]b", "a]b"),
        ("+-./:@]_09azAZ", "+-./:@]_09azAZ"),
        ("", "''"),
        ("a b", "'a b'"),
        ("it's", "\"it's\""),
        ("é", "'é'"),
        ("x=y", "'x=y'"),
        ("a\\b", '"a\\\\b"'),
        ("\\$x", "\"\\\\\"'$x'"),  # two chunks
        ("^x", "'^x'"),
        ("a^b", "a'^b'"),
        ("^^", "'^''^'"),
        ("'^'", "\"'\"'^'\"'\""),
        ("'", "\"'\""),
        ('"', "'\"'"),
        ("$", "'$'"),
        ("!", "'!'"),
        ("`", "'`'"),
        ('a\'b"c', '"a\'b\\"c"'),
        ("a$b'c", "'a$b'\"'c\""),
        ("!'", "'!'\"'\""),
        ("\t", "'\t'"),
        ("#a", "'#a'"),
        ("~", "'~'"),
        ("%", "'%'"),
        ("\x7f", "'\x7f'"),
    ],
)
def test_join_example_quotes_each_token(token: str, rendered: str) -> None:
    assert join_example([token]) == rendered


def test_join_example_joins_with_single_spaces() -> None:
    assert join_example(["git", "commit", "-m", "a b", ""]) == "git commit -m 'a b' ''"


@pytest.mark.parametrize("tokens", [["a\0b"], ["git", "x\0"], ["\0", "ok"]])
def test_a_nul_byte_makes_the_whole_example_unrenderable(tokens: list[str]) -> None:
    assert join_example(tokens) == "unable to render example"


# -- Rust Debug strings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "debug"),
    [
        ("git", '"git"'),
        ("\t\r\n", '"\\t\\r\\n"'),
        ("\\", '"\\\\"'),
        ('"', '"\\""'),
        ("\0", '"\\0"'),
        ("'", '"\'"'),  # single quotes are not escaped
        ("\x01", '"\\u{1}"'),
        ("\x7f", '"\\u{7f}"'),  # DEL
        ("\xad", '"\\u{ad}"'),  # soft hyphen (format)
        ("\u200b", '"\\u{200b}"'),
        ("\u200d", '"\\u{200d}"'),
        ("\ufeff", '"\\u{feff}"'),
        ("\xa0", '"\\u{a0}"'),
        ("\u3000", '"\\u{3000}"'),
        ("\u2028", '"\\u{2028}"'),
        ("\ue000", '"\\u{e000}"'),  # private use
        ("\u0300", '"\\u{300}"'),  # combining grave
        ("a\u0300", '"a\\u{300}"'),  # escaped anywhere, not only at the start
        ("\u20dd", '"\\u{20dd}"'),  # enclosing circle
        ("\uff9e", '"\\u{ff9e}"'),  # grapheme extender that is not a mark (Lm)
        ("\u09be", '"\\u{9be}"'),  # grapheme-extending spacing mark (Mc)
        ("\U0001d165", '"\\u{1d165}"'),
        ("\u0903", '"\u0903"'),  # an ordinary spacing mark stays
        ("é", '"é"'),
        ("中", '"中"'),
        ("😀", '"😀"'),
        (" ", '" "'),
        ("~", '"~"'),
    ],
)
def test_rust_debug_str(text: str, debug: str) -> None:
    assert rust_debug_str(text) == debug


def test_rust_debug_list() -> None:
    assert rust_debug_list([]) == "[]"
    assert rust_debug_list(["a", 'b"c', "d\te"]) == '["a", "b\\"c", "d\\te"]'


# -- checking examples -------------------------------------------------------------------------


def test_not_match_failure_message() -> None:
    assert failure(
        'prefix_rule(["git", "push"], "forbidden", justification="no \\"force\\"",'
        ' not_match=[["git", "push", "x"]])'
    ) == (
        'expected example to not match rule `PrefixRuleMatch { matched_prefix: ["git", "push"], '
        'decision: Forbidden, resolved_program: None, justification: Some("no \\"force\\"") }`: '
        "git push x"
    )


def test_match_failure_lists_the_calls_rules_and_every_unmatched_example() -> None:
    assert failure(
        'prefix_rule([["git", "hg"], ["a", "b"]], "prompt", match=["git c", "hg a", "hg d",'
        ' "svn a"], canonical_matching=True)'
    ) == (
        "expected every example to match at least one rule. rules: ["
        + rule_debug("git", 'Alts([\\"a\\", \\"b\\"])', "Prompt", "true") + ", "
        + rule_debug("hg", 'Alts([\\"a\\", \\"b\\"])', "Prompt", "true")
        + ']; unmatched examples: ["git c", "hg d", "svn a"]'
    )


def test_unmatched_examples_are_rendered_then_debug_escaped() -> None:
    assert failure(
        'prefix_rule(["git", "x"], match=[["git", "a\\tb", "it\'s"], "git x",'
        ' ["git", "", "é\\u200b"], "git \\"$HOME\\""])'
    ) == (
        "expected every example to match at least one rule. rules: ["
        + rule_debug("git", 'Single(\\"x\\")')
        + "]; unmatched examples: [\"git 'a\\tb' \\\"it's\\\"\", \"git '' 'é\\u{200b}'\", "
        "\"git '$HOME'\"]"
    )


def test_unrenderable_examples_in_messages() -> None:
    assert failure('prefix_rule(["git"], not_match=["hg", ["git", "a\\u0000"]])') == (
        'expected example to not match rule `PrefixRuleMatch { matched_prefix: ["git"], '
        "decision: Allow, resolved_program: None, justification: None }`: "
        "unable to render example")
    assert failure('prefix_rule(["git"], match=[["git\\u0000"], "hg"])').endswith(
        'unmatched examples: ["unable to render example", "hg"]')


def test_examples_are_checked_after_the_whole_file_so_a_later_error_wins() -> None:
    assert failure('prefix_rule(["git"], match=["hg"])\nfail("later")') == "fail: later"
    assert failure('prefix_rule(["git"], match=["hg"])\nprefix_rule(["x"], decision="no")') == (
        "invalid decision: no")


def test_not_match_is_checked_before_match() -> None:
    assert failure('prefix_rule(["git"], match=["hg"], not_match=["git"])') == (
        'expected example to not match rule `PrefixRuleMatch { matched_prefix: ["git"], '
        "decision: Allow, resolved_program: None, justification: None }`: git")


def test_the_first_matching_not_match_example_is_reported() -> None:
    assert failure(
        'prefix_rule([["a", "b"], ["c", "d"]], match=["b d"], not_match=["a e", "b c", "a d"])'
    ) == (
        'expected example to not match rule `PrefixRuleMatch { matched_prefix: ["b", "c"], '
        "decision: Allow, resolved_program: None, justification: None }`: b c")


def test_calls_are_checked_in_source_order() -> None:
    assert failure('prefix_rule(["git"], match=["hg"])\nprefix_rule(["svn"], not_match=["svn"])'
                   ).startswith("expected every example to match")
    assert failure('prefix_rule(["svn"], not_match=["svn"])\nprefix_rule(["git"], match=["hg"])'
                   ).startswith("expected example to not match")


def test_each_call_is_checked_against_its_own_rules_only() -> None:
    assert failure('prefix_rule(["git"], match=["hg"])\nprefix_rule(["hg"], match=["hg"])') == (
        "expected every example to match at least one rule. rules: [" + rule_debug("git")
        + ']; unmatched examples: ["hg"]')
    # a rule of another call does not make a not_match example fail
    loads('prefix_rule(["git"])\nprefix_rule(["git", "push"], not_match=["git status"])')
    # nor does a rule from an earlier file
    loads('prefix_rule(["git"])', 'prefix_rule(["hg"], not_match=["git"])')


def test_examples_use_the_rules_own_canonical_flag() -> None:
    loads('prefix_rule(["git"], match=["GIT"], canonical_matching=True)')
    assert failure('prefix_rule(["git"], match=["GIT"])').endswith(
        'unmatched examples: ["GIT"]')


def test_examples_use_host_executable_resolution() -> None:
    loads('prefix_rule(["git"], match=["/usr/bin/git status", "/opt/x/git", "./git"])')
    assert failure('prefix_rule(["git"], not_match=["/usr/bin/git status"])') == (
        'expected example to not match rule `PrefixRuleMatch { matched_prefix: ["git"], '
        'decision: Allow, resolved_program: Some(AbsolutePathBuf("/usr/bin/git")), '
        "justification: None }`: /usr/bin/git status")
    assert failure(
        'prefix_rule(["GIT"], "forbidden", justification="a\\nb", match=["git"],'
        ' canonical_matching=True)\nprefix_rule(["GIT"], "prompt", not_match=["/x/GIT y"])'
    ) == (
        'expected example to not match rule `PrefixRuleMatch { matched_prefix: ["GIT"], '
        'decision: Prompt, resolved_program: Some(AbsolutePathBuf("/x/GIT")), '
        "justification: None }`: /x/GIT y")


def test_host_executables_defined_later_in_the_same_file_apply_to_examples() -> None:
    # Without the entry /opt/git stands for git and the not_match example fails ...
    assert failure('prefix_rule(["git"], not_match=["/opt/git"])').startswith(
        "expected example to not match rule")
    # ... a host_executable later in the file excludes it.
    loads('prefix_rule(["git"], not_match=["/opt/git"])\nhost_executable("git", ["/usr/bin/git"])')
    assert failure('prefix_rule(["git"], match=["/opt/git x"])\n'
                   'host_executable("git", ["/usr/bin/git"])').endswith(
        'unmatched examples: ["/opt/git x"]')


def test_examples_do_not_change_the_policy() -> None:
    policy = load_policy_from_strings([("a.rules", 'prefix_rule(["git", "log"], "prompt",'
                                       ' match=["git log -p"], not_match=["git status"])')])
    assert [(r.program, r.rest) for r in policy.rules] == [("git", ("log",))]
    assert policy.decision(["git", "status"]) is None
