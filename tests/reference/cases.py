"""Inputs of the reference-fixture suite for `execpolicy check`.

Each :class:`Case` is a set of rules files (materialised in an empty
directory, which is the working directory of the run, so error messages show
the relative names) and the arguments that follow `execpolicy check`.

`python -m tests.reference.capture` runs every case through the reference
binary (codex-cli 0.169.0) and stores what it printed in `fixtures.json`;
`tests/test_reference_replay.py` replays the fixtures against our CLI.

File names ending in ``/`` are created as directories. A name used in
``argv`` but absent from ``files`` does not exist.

Cases whose behaviour cannot match the reference (see :class:`Divergence`)
carry the reason and what we print instead; the replay asserts that output,
so a divergence that goes away (or changes) is noticed.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Divergence:
    """A documented, unavoidable difference from the reference."""

    reason: str
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, str | bytes]
    argv: list[str]
    divergence: Divergence | None = field(default=None, compare=False)


def one(name: str, source: str | bytes, *command: str, flags: tuple[str, ...] = (),
        divergence: Divergence | None = None) -> Case:
    """One rules file `a.rules`, checked against ``command``."""
    return Case(name, {"a.rules": source}, ["--rules", "a.rules", *flags, *command], divergence)


def resolve(name: str, source: str, *command: str,
            divergence: Divergence | None = None) -> Case:
    """Like :func:`one`, with `--resolve-host-executables`."""
    return one(name, source, *command, flags=("--resolve-host-executables",),
               divergence=divergence)


def multi(name: str, files: dict[str, str | bytes], *argv: str,
          divergence: Divergence | None = None) -> Case:
    return Case(name, files, list(argv), divergence)


def _traceback(source_line: str, message: str, *, line: int = 1, path: str = "a.rules") -> str:
    """Our stderr for an error raised by a builtin called on a one-line file."""
    width = len(str(line))
    pad = " " * width
    return (
        f"Error: failed to parse policy at {path}\n\nCaused by:\n"
        "    starlark error: Traceback (most recent call last):\n"
        f"      * {path}:{line}, in <module>\n"
        f"          {source_line}\n"
        f"    error: {message}\n"
        f"    {pad}--> {path}:{line}:1\n"
        f"    {pad} |\n"
        f"    {line} | {source_line}\n"
        f"    {pad} | {'^' * len(source_line)}\n"
        f"    {pad} |\n"
        "    \n"
    )


def _frame(message: str, source_line: str, column: int, width: int) -> str:
    """Our stderr for a parse/compile error on line 1 of `a.rules`."""
    return (
        "Error: failed to parse policy at a.rules\n\nCaused by:\n"
        f"    starlark error: error: {message}\n"
        f"     --> a.rules:1:{column}\n"
        "      |\n"
        f"    1 | {source_line}\n"
        f"      | {' ' * (column - 1)}{'^' * width}\n"
        "      |\n"
        "    \n"
    )


_SERDE = (
    "starlark-pyo3 converts a builtin's arguments to Python through serde; "
    "a value of type `{type}` cannot be converted, so the call fails before our "
    "validation runs and the message names the conversion instead of {what}"
)
_TUPLE = (
    "starlark-pyo3 converts Starlark values to Python through serde, which turns a "
    "tuple into a list; we cannot tell them apart, so we accept a tuple where the "
    "reference requires a list (it reports {what})"
)
_BYTES = (
    "our embedded starlark-rust does not have `b\"...\"` bytes literals (newer than "
    "ours); the reference parses them and reports {what}"
)


CASES: list[Case] = [
    # ------------------------------------------------------------------ matching
    one("match-basic", 'prefix_rule(["git", "status"])\n', "git", "status"),
    one("match-no-match", 'prefix_rule(["git", "status"])\n', "git", "push"),
    one("match-extra-tokens-ignored", 'prefix_rule(["git", "status"])\n',
        "git", "status", "--short", "-b"),
    one("match-command-shorter-than-pattern", 'prefix_rule(["git", "status"])\n', "git"),
    one("match-program-only", 'prefix_rule(["ls"], "prompt")\n', "ls", "-la", "/"),
    one("match-default-decision-is-allow", 'prefix_rule(pattern=["git"])\n', "git"),
    one("match-strictest-forbidden",
        'prefix_rule(["rm"], "prompt")\nprefix_rule(["rm", "-rf"], "forbidden")\n'
        'prefix_rule(["rm", "-rf", "/tmp"], "allow")\n',
        "rm", "-rf", "/tmp", "x"),
    one("match-strictest-prompt",
        'prefix_rule(["git"], "allow")\nprefix_rule(["git", "push"], "prompt")\n',
        "git", "push"),
    one("match-strictest-regardless-of-order",
        'prefix_rule(["git", "push"], "forbidden")\nprefix_rule(["git"], "prompt")\n'
        'prefix_rule(["git"], "allow")\n',
        "git", "push"),
    one("match-later-alternatives",
        'prefix_rule(["git", ["push", "fetch"], "origin"], "prompt")\n',
        "git", "fetch", "origin", "main"),
    one("match-later-alternatives-no-match",
        'prefix_rule(["git", ["push", "fetch"], "origin"], "prompt")\n',
        "git", "pull", "origin"),
    one("match-first-token-alternatives",
        'prefix_rule([["git", "hg", "svn"], "status"], "prompt", justification="vcs")\n',
        "hg", "status"),
    one("match-first-token-alternatives-with-later-alternatives",
        'prefix_rule([["git", "hg"], ["log", "diff"]])\n', "git", "diff", "HEAD"),
    one("match-first-token-alternatives-duplicates", 'prefix_rule([["git", "git"]])\n', "git"),
    one("match-duplicate-rules",
        'prefix_rule(["git"], "prompt")\nprefix_rule(["git"], "prompt")\n', "git"),
    one("match-one-element-alternatives", 'prefix_rule(["git", ["status"]])\n',
        "git", "status"),
    one("match-empty-program", 'prefix_rule([""], "prompt")\n', ""),
    one("match-empty-program-no-match", 'prefix_rule([""], "prompt")\n', "git"),
    one("match-empty-token", 'prefix_rule(["git", ""], "prompt")\n', "git", "", "x"),
    one("match-empty-alternative", 'prefix_rule(["git", ["", "x"]])\n', "git", ""),
    one("match-case-sensitive", 'prefix_rule(["git"])\n', "GIT"),
    one("match-nfc-differs-from-nfd", 'prefix_rule(["caf\u00e9"])\n', "cafe\u0301"),
    one("match-matched-prefix-is-command-spelling",
        'prefix_rule(["git", ["a", "b"]], justification="j")\nprefix_rule(["git"], "prompt")\n',
        "git", "b", "x"),
    one("match-builtins-return-none",
        'x = prefix_rule(["git"])\nprefix_rule(["none"] if x == None else ["other"])\n',
        "none"),
    one("match-arguments-copied",
        'p = ["git"]\nprefix_rule(p)\np.append("status")\n', "git"),
    one("match-network-rules-do-not-affect-output",
        'network_rule("example.com", "https", "deny")\nprefix_rule(["curl"])\n',
        "curl", "example.com"),
    one("match-network-rule-host-as-command",
        'network_rule("example.com", "https", "allow")\n', "example.com"),
    one("match-host-executable-ignored-without-flag",
        'host_executable("git", ["/usr/bin/git"])\nprefix_rule(["git"])\n',
        "/usr/bin/git", "status"),
    one("match-absolute-program-without-flag", 'prefix_rule(["git"])\n', "/usr/bin/git"),
    one("match-absolute-rule", 'prefix_rule(["/usr/bin/git", "status"])\n',
        "/usr/bin/git", "status"),
    one("match-many-programs-in-definition-order",
        'prefix_rule(["git", "status"], "prompt")\nprefix_rule(["ls"])\n'
        'prefix_rule(["git"], "allow")\nprefix_rule(["git", "status", "-s"], "forbidden")\n',
        "git", "status", "-s"),
    one("match-justification-unicode",
        'prefix_rule(["git"], "forbidden", justification="日本語 ✓ — \u00e9")\n', "git"),
    one("match-justification-kept-untrimmed",
        'prefix_rule(["git"], justification="  padded\\t ")\n', "git"),
    one("match-empty-file", "", "git"),
    # ---------------------------------------------------------------- JSON
    one("json-control-characters",
        'prefix_rule(["echo", "a\\nb\\tc\\rd\\x08e\\x0cf\\x01g\\x1f\\x7f"])\n',
        "echo", "a\nb\tc\rd\be\ff\x01g\x1f\x7f"),
    one("json-quotes-backslashes-slash",
        r'prefix_rule(["echo", "\"q\" \\ /s"], justification="say \"hi\" \\ a/b")' "\n",
        "echo", '"q" \\ /s'),
    one("json-non-ascii-and-line-separators",
        'prefix_rule(["echo", "\u00e9\u2028\u2029\U0001f600\u200b"])\n',
        "echo", "\u00e9\u2028\u2029\U0001f600\u200b"),
    one("json-control-chars-in-justification",
        'prefix_rule(["x"], justification="\\x00\\x1b[0m\\u2028end")\n', "x"),
    one("pretty-match", 'prefix_rule(["git", ["a", "b"]], "prompt", justification="why")\n',
        "git", "a", flags=("--pretty",)),
    one("pretty-no-match", 'prefix_rule(["git"])\n', "ls", flags=("--pretty",)),
    one("pretty-several-matches",
        'prefix_rule(["git"])\nprefix_rule(["git", "push"], "forbidden")\n',
        "git", "push", flags=("--pretty",)),
    one("pretty-resolved", 'prefix_rule(["git"], justification="j")\n', "/usr/bin/git",
        flags=("--pretty", "--resolve-host-executables")),
    one("pretty-non-ascii", 'prefix_rule(["\u00e9cho"], justification="\\n\u00e9")\n',
        "\u00e9cho", flags=("--pretty",)),
    # ------------------------------------------------------- canonical matching
    one("canon-upper-command", 'prefix_rule(["git", "status"], canonical_matching=True)\n',
        "GIT", "Status"),
    one("canon-off-is-exact", 'prefix_rule(["git", "status"], canonical_matching=False)\n',
        "GIT", "status"),
    one("canon-sharp-s", 'prefix_rule(["stra\u00dfe"], canonical_matching=True)\n', "STRASSE"),
    one("canon-ligature-ff", 'prefix_rule(["ff"], canonical_matching=True)\n', "\ufb00"),
    one("canon-kelvin-sign", 'prefix_rule(["k"], canonical_matching=True)\n', "\u212a"),
    one("canon-angstrom-sign", 'prefix_rule(["\u00e5"], canonical_matching=True)\n', "\u212b"),
    one("canon-dotted-capital-i", 'prefix_rule(["i\u0307"], canonical_matching=True)\n',
        "\u0130"),
    one("canon-final-sigma", 'prefix_rule(["\u03c3"], canonical_matching=True)\n', "\u03c2"),
    one("canon-ypogegrammeni", 'prefix_rule(["\u03b9"], canonical_matching=True)\n', "\u0345"),
    one("canon-decomposed-accent", 'prefix_rule(["caf\u00e9"], canonical_matching=True)\n',
        "CAFE\u0301"),
    one("canon-fullwidth-not-folded", 'prefix_rule(["git"], canonical_matching=True)\n',
        "\uff47\uff49\uff54"),
    one("canon-script-h-not-folded", 'prefix_rule(["h"], canonical_matching=True)\n', "\u210c"),
    one("canon-whitespace-not-ignored", 'prefix_rule(["git"], canonical_matching=True)\n',
        "git "),
    one("canon-rest-and-alternatives",
        'prefix_rule(["git", ["PUSH", "Fetch"], "ORIGIN"], "prompt", canonical_matching=True)\n',
        "Git", "fetch", "origin", "x"),
    one("canon-exact-group-first",
        'prefix_rule(["GIT"], "prompt", canonical_matching=True)\n'
        'prefix_rule(["git"], "allow")\n',
        "git"),
    one("canon-non-canonical-rules-stay-exact",
        'prefix_rule(["git"], "prompt", canonical_matching=True)\nprefix_rule(["GIT"])\n',
        "Git"),
    one("canon-positional-sixth-argument",
        'prefix_rule(["git"], "prompt", [], [], "j", True)\n', "GIT"),
    one("canon-with-first-token-alternatives",
        'prefix_rule([["git", "hg"], "LOG"], canonical_matching=True)\n', "HG", "log"),
    # ------------------------------------------------- host-executable resolution
    resolve("resolve-basic", 'prefix_rule(["git", "status"], "prompt")\n',
            "/usr/bin/git", "status"),
    resolve("resolve-with-justification", 'prefix_rule(["git"], justification="j")\n',
            "/usr/bin/git"),
    resolve("resolve-rest-mismatch", 'prefix_rule(["git", "status"])\n', "/usr/bin/git", "push"),
    resolve("resolve-gate-allows-listed-path",
            'host_executable("git", ["/usr/bin/git", "/opt/git"])\nprefix_rule(["git"])\n',
            "/opt/git", "x"),
    resolve("resolve-gate-excludes-other-path",
            'host_executable("git", ["/usr/bin/git"])\nprefix_rule(["git"])\n',
            "/opt/homebrew/bin/git"),
    resolve("resolve-empty-paths-exclude-everything",
            'host_executable("git", [])\nprefix_rule(["git"])\n', "/usr/bin/git"),
    resolve("resolve-gate-defined-after-rule",
            'prefix_rule(["git"])\nhost_executable("git", ["/usr/bin/git"])\n', "/bin/git"),
    resolve("resolve-dotdot-normalised",
            'host_executable("git", ["/usr/bin/git"])\nprefix_rule(["git"])\n',
            "/usr/local/../bin/git", "status"),
    resolve("resolve-double-slash-and-dot",
            'host_executable("git", ["/usr/bin/git"])\nprefix_rule(["git"])\n',
            "//usr//bin/./git"),
    resolve("resolve-trailing-slash", 'prefix_rule(["git"])\n', "/usr/bin/git/"),
    resolve("resolve-dotdot-above-root", 'prefix_rule(["git"])\n', "/../../git"),
    resolve("resolve-gate-paths-normalised",
            'host_executable("git", ["/usr//bin/./git/"])\nprefix_rule(["git"])\n',
            "/usr/bin/git"),
    resolve("resolve-root-has-no-basename", 'prefix_rule([""])\nprefix_rule(["/"])\n', "/x/.."),
    resolve("resolve-root-exact-rule", 'prefix_rule(["/"])\n', "/"),
    resolve("resolve-dotdot-changes-basename", 'prefix_rule(["bin"], "prompt")\n',
            "/usr/bin/git/.."),
    resolve("resolve-backslash-is-ordinary", 'prefix_rule(["a\\\\b"])\n', "/x/a\\b", "y"),
    resolve("resolve-exact-rule-beats-basename",
            'prefix_rule(["git"], "forbidden")\nprefix_rule(["/usr/bin/git"], "allow")\n',
            "/usr/bin/git"),
    resolve("resolve-bare-command-unaffected",
            'host_executable("git", ["/usr/bin/git"])\nprefix_rule(["git"])\n', "git"),
    resolve("resolve-bare-command-without-rule", 'prefix_rule(["git"])\n', "gitx"),
    resolve("resolve-relative-program-gated",
            'host_executable("git", ["/usr/bin/git"])\nprefix_rule(["git"])\n', "./git"),
    resolve("resolve-nested-relative-program-gated",
            'host_executable("git", ["/usr/bin/git"])\nprefix_rule(["git"])\n', "usr/bin/git"),
    resolve("resolve-tilde-program-gated",
            'host_executable("git", ["/usr/bin/git"])\nprefix_rule(["git"])\n', "~/bin/git"),
    resolve("resolve-last-host-executable-wins",
            'host_executable("git", ["/a/git"])\nhost_executable("git", ["/b/git"])\n'
            'prefix_rule(["git"])\n',
            "/a/git"),
    resolve("resolve-last-host-executable-wins-allowed",
            'host_executable("git", ["/a/git"])\nhost_executable("git", ["/b/git"])\n'
            'prefix_rule(["git"])\n',
            "/b/git"),
    resolve("resolve-several-rules",
            'prefix_rule(["git"])\nprefix_rule(["git", "push"], "forbidden", justification="no")\n'
            'prefix_rule(["git", "pull"])\n',
            "/usr/bin/git", "push", "origin"),
    resolve("resolve-first-token-alternatives", 'prefix_rule([["git", "hg"]], "prompt")\n',
            "/usr/local/bin/hg"),
    resolve("resolve-gate-for-other-name-irrelevant",
            'host_executable("hg", ["/usr/bin/hg"])\nprefix_rule(["git"])\n', "/opt/git"),
    resolve("resolve-canonical-basename",
            'prefix_rule(["git"], canonical_matching=True)\n', "/usr/bin/GIT", "x"),
    resolve("resolve-canonical-per-rule-gate",
            'host_executable("git", ["/usr/bin/git"])\n'
            'prefix_rule(["git"], canonical_matching=True)\nprefix_rule(["GIT"], "prompt")\n',
            "/usr/bin/GIT"),
    resolve("resolve-canonical-per-rule-gate-allows",
            'host_executable("git", ["/usr/bin/GIT"])\n'
            'prefix_rule(["git"], canonical_matching=True)\n',
            "/usr/bin/GIT"),
    resolve("resolve-name-with-space",
            'host_executable("my tool", ["/opt/my tool"])\nprefix_rule(["my tool"])\n',
            "/opt/my tool"),
    resolve("resolve-empty-program", 'prefix_rule(["x"])\n', ""),
    # ------------------------------------------------------- several files
    multi("order-two-files",
          {"a.rules": 'prefix_rule(["git"], "prompt", justification="a")\n',
           "b.rules": 'prefix_rule(["git"], "allow", justification="b")\n'},
          "--rules", "a.rules", "--rules", "b.rules", "git"),
    multi("order-two-files-reversed",
          {"a.rules": 'prefix_rule(["git"], "prompt", justification="a")\n',
           "b.rules": 'prefix_rule(["git"], "allow", justification="b")\n'},
          "--rules", "b.rules", "--rules", "a.rules", "git"),
    multi("order-interleaved-programs",
          {"a.rules": 'prefix_rule(["git", "push"])\nprefix_rule(["ls"])\n',
           "b.rules": 'prefix_rule(["git"], "forbidden")\n',
           "c.rules": 'prefix_rule(["git", "push", "-f"], "prompt")\n'},
          "-r", "c.rules", "-r", "a.rules", "-r", "b.rules", "git", "push", "-f"),
    multi("order-same-file-twice", {"a.rules": 'prefix_rule(["git"], "prompt")\n'},
          "--rules", "a.rules", "--rules", "a.rules", "git"),
    multi("order-variables-not-shared",
          {"a.rules": 'x = ["git"]\nprefix_rule(x)\n', "b.rules": "prefix_rule(x)\n"},
          "--rules", "a.rules", "--rules", "b.rules", "git"),
    multi("order-parse-errors-first-file-wins",
          {"a.rules": 'prefix_rule(["git"], "deny")\n', "b.rules": "prefix_rule(\n"},
          "--rules", "a.rules", "--rules", "b.rules", "git"),
    multi("order-parse-error-in-second-file",
          {"a.rules": 'prefix_rule(["git"])\n', "b.rules": 'prefix_rule(["git"], "deny")\n'},
          "--rules", "a.rules", "--rules", "b.rules", "git"),
    multi("order-missing-file-before-invalid",
          {"b.rules": 'prefix_rule(["git"], "deny")\n'},
          "--rules", "missing.rules", "--rules", "b.rules", "git"),
    multi("order-invalid-file-before-missing",
          {"a.rules": 'prefix_rule(["git"], "deny")\n'},
          "--rules", "a.rules", "--rules", "missing.rules", "git"),
    multi("order-example-failure-before-later-file",
          {"a.rules": 'prefix_rule(["git"], match=["hg"])\n', "b.rules": "prefix_rule(\n"},
          "--rules", "a.rules", "--rules", "b.rules", "git"),
    multi("order-path-in-subdirectory",
          {"rules/": "", "rules/x.rules": 'prefix_rule(["git"], "nope")\n'},
          "--rules", "rules/x.rules", "git"),
    multi("order-path-shown-as-given",
          {"a.rules": 'prefix_rule(["git"], "nope")\n'},
          "--rules", "./a.rules", "git"),
    multi("order-host-executable-later-file-gates-earlier-rule",
          {"a.rules": 'prefix_rule(["git"])\n',
           "b.rules": 'host_executable("git", ["/usr/bin/git"])\n'},
          "--rules", "a.rules", "--rules", "b.rules", "--resolve-host-executables",
          "/opt/git"),
    multi("order-host-executable-replaced-by-later-file",
          {"a.rules": 'host_executable("git", ["/opt/git"])\nprefix_rule(["git"])\n',
           "b.rules": 'host_executable("git", ["/usr/bin/git"])\n'},
          "--rules", "a.rules", "--rules", "b.rules", "--resolve-host-executables",
          "/opt/git"),
    multi("order-host-executable-replaced-allows-new-path",
          {"a.rules": 'host_executable("git", ["/opt/git"])\nprefix_rule(["git"])\n',
           "b.rules": 'host_executable("git", ["/usr/bin/git"])\n'},
          "--resolve-host-executables", "--rules", "a.rules", "--rules", "b.rules",
          "/usr/bin/git"),
    multi("order-failed-file-keeps-nothing",
          {"a.rules": 'prefix_rule(["git"])\nfail("stop")\n'},
          "--rules", "a.rules", "git"),
    # ------------------------------------------------------- Starlark dialect
    one("dialect-def", 'def ask(*cmd):\n    prefix_rule(list(cmd), "prompt")\n\n'
        'ask("git", "push")\nask("rm")\n', "git", "push"),
    one("dialect-lambda", 'f = lambda p: prefix_rule(p, decision="forbidden")\nf(["rm"])\n',
        "rm"),
    one("dialect-list-comprehension",
        '[prefix_rule([c, "--version"]) for c in ["git", "hg"] if c != "svn"]\n',
        "hg", "--version"),
    one("dialect-f-string", 'tool = "git"\nn = 2\nprefix_rule([f"{tool}-lfs", f"{n}"])\n',
        "git-lfs", "2"),
    one("dialect-f-string-expression", 'prefix_rule([f"{1 + 1}"])\n', "2",
        divergence=Divergence(
            "our embedded starlark-rust only allows identifiers inside f-string braces; the "
            "reference's newer one evaluates expressions (`f\"{1 + 1}\"` is `2`)", 1, "",
            _frame("Not a valid identifier: `1 + 1`", 'prefix_rule([f"{1 + 1}"])', 17, 5))),
    one("dialect-percent-and-format",
        'prefix_rule(["%s-%d" % ("a", 1), "{}:{x}".format("b", x="c")])\n', "a-1", "b:c"),
    one("dialect-type-annotations",
        'x: str = "git"\ndef f(p: list[str], d: str = "prompt") -> None:\n'
        '    prefix_rule(p, d)\nf([x])\n', "git"),
    one("dialect-top-level-for-and-if",
        'for c in ["a", "b", "c"]:\n    if c == "b":\n        continue\n'
        '    prefix_rule([c])\n', "c"),
    one("dialect-kwargs-expansion",
        'prefix_rule(**{"pattern": ["git"], "decision": "prompt", "justification": "kw"})\n',
        "git"),
    one("dialect-args-expansion", 'args = [["git"], "forbidden"]\nprefix_rule(*args)\n', "git"),
    one("dialect-string-methods",
        'prefix_rule("git  status".split() + ["X".lower()], "GIT".lower() and "prompt")\n',
        "git", "status", "x"),
    one("dialect-dict-and-sorted",
        'd = {"b": "prompt", "a": "forbidden"}\nfor k in sorted(d):\n'
        '    prefix_rule([k], d[k])\n', "a"),
    one("dialect-builtins-available",
        'prefix_rule([str(len(range(3))), repr("x"), type(1), str(max(1, 2))], '
        'decision=["allow", "prompt"][int(bool(hash("x") or 1))])\n',
        "3", '"x"', "int", "2"),
    one("dialect-enumerate-zip-reversed",
        'for i, (a, b) in enumerate(zip(["x", "y"], reversed(["p", "q"]))):\n'
        '    prefix_rule([a, b, str(i)])\n', "y", "p", "1"),
    one("dialect-comments-semicolons-trailing-commas",
        '# leading comment\nprefix_rule(["a"],); prefix_rule(\n    ["b"],  # trailing\n'
        '    "prompt",\n)\n', "b"),
    one("dialect-triple-quoted-and-raw-strings",
        'prefix_rule(["""a\nb""", r"c\\d", \'e\'], justification=\'\'\'x\'\'\')\n',
        "a\nb", "c\\d", "e"),
    one("dialect-crlf-line-endings",
        'def f():\r\n    prefix_rule(["git"], "prompt")\r\n\r\nf()\r\n', "git"),
    one("dialect-no-final-newline", 'prefix_rule(["git"], "prompt")', "git"),
    one("dialect-only-comments", "# nothing here\n\n   # still nothing\n", "git"),
    one("dialect-multiline-string-in-pattern", 'prefix_rule(["a\\\\\\nb"])\n', "a\\\nb"),
    one("dialect-while-reserved", "while True:\n    pass\n", "git"),
    one("dialect-load-unavailable", 'load("foo.star", "x")\n', "git"),
    one("dialect-print-unknown", 'print("hi")\n', "git"),
    one("dialect-struct-unknown", "s = struct(a = 1)\n", "git"),
    one("dialect-json-unknown", 'x = json.encode(["a"])\n', "git"),
    one("dialect-isinstance-unknown", 'x = isinstance(1, "int")\n', "git"),
    one("dialect-unknown-name-no-suggestion", "zzzzzzzz()\n", "git"),
    one("dialect-undefined-variable-after-rules",
        'prefix_rule(["git"])\nprefix_rule(undefined_pattern)\n', "git"),
    one("dialect-undefined-variable-in-def",
        'def f():\n    return nope\n\nprefix_rule(["git"])\n', "git"),
    one("dialect-recursion", "def f(n):\n    return f(n + 1)\n\nf(0)\n", "git"),
    one("dialect-fail", 'prefix_rule(["git"])\nfail("boom")\n', "git"),
    one("dialect-fail-in-function",
        'def check(x):\n    if x != "ok":\n        fail("bad value:", x)\n\ncheck("nope")\n',
        "git"),
    one("dialect-constant-folding-division", 'prefix_rule(["git"])\nx = 1 // 0\n', "git"),
    one("dialect-runtime-division", "zero = 0\nx = 1 // zero\n", "git"),
    one("dialect-index-out-of-range", 'p = ["git"]\nprefix_rule([p[3]])\n', "git"),
    one("dialect-string-plus-int", 'x = "a" + 1\n', "git"),
    one("dialect-bom", b'\xef\xbb\xbfprefix_rule(["git"])\n', "git"),
    one("dialect-unclosed-paren", 'prefix_rule(["git"]\n', "git"),
    one("dialect-unclosed-paren-at-eof", 'prefix_rule(["git"],', "git"),
    one("dialect-stray-closing-paren", 'prefix_rule(["git"]))\n', "git"),
    one("dialect-unexpected-indent", 'prefix_rule(["a"])\n    prefix_rule(["b"])\n', "git"),
    one("dialect-unterminated-string", 'prefix_rule(["git])\n', "git"),
    one("dialect-bad-character", 'prefix_rule(["git"]) $\n', "git"),
    one("dialect-tab-indentation", 'if True:\n\tprefix_rule(["git"])\n', "git"),
    one("dialect-assign-to-builtin-call", 'prefix_rule(["git"]) = 1\n', "git"),
    one("dialect-frozen-list-in-def",
        'p = ["git"]\ndef f():\n    p.append("x")\nf()\nprefix_rule(p)\n', "git", "x"),
    one("dialect-error-inside-nested-call",
        'def inner():\n    prefix_rule([], "prompt")\n\ndef outer():\n    inner()\n\nouter()\n',
        "git"),
    one("dialect-error-column-after-non-ascii",
        'x = "\u00e9\u00e9"; prefix_rule(["git"], "nope")\n', "git"),
    one("dialect-error-on-line-ten", "\n" * 9 + 'prefix_rule(["git"], "nope")\n', "git"),
    one("dialect-error-in-multiline-call",
        'prefix_rule(\n    ["git"],\n    decision = "nope",\n)\n', "git"),
    one("dialect-error-after-crlf", 'x = 1\r\nprefix_rule(["git"], "nope")\r\n', "git"),
    one("dialect-range-as-pattern", "prefix_rule(range(3))\n", "git",
        divergence=Divergence(
            _SERDE.format(type="range", what="the parameter type mismatch"), 1, "",
            _traceback("prefix_rule(range(3))",
                       "StarlarkError: Operation `serde::serialize` not supported on type "
                       "`range`"))),
    one("dialect-function-as-pattern-element", "prefix_rule([lambda: 1])\n", "git",
        divergence=Divergence(
            _SERDE.format(type="function", what="`pattern element must be a string or list "
                          "of strings (got function)`"), 1, "",
            _traceback("prefix_rule([lambda: 1])",
                       "StarlarkError: Operation `serde::serialize` not supported on type "
                       "`function`"))),
    one("dialect-tuple-as-pattern", 'prefix_rule(("git",))\n', "git",
        divergence=Divergence(
            _TUPLE.format(what="`Type of parameter `pattern` doesn't match`"), 0,
            '{"matchedRules":[{"prefixRuleMatch":{"matchedPrefix":["git"],'
            '"decision":"allow"}}],"decision":"allow"}\n', "")),
    one("dialect-tuple-as-pattern-element", 'prefix_rule(["git", ("a", "b")])\n', "git", "b",
        divergence=Divergence(
            _TUPLE.format(what="`pattern element must be a string or list of strings "
                          "(got tuple)`"), 0,
            '{"matchedRules":[{"prefixRuleMatch":{"matchedPrefix":["git","b"],'
            '"decision":"allow"}}],"decision":"allow"}\n', "")),
    one("dialect-bytes-pattern-element", 'prefix_rule([b"x"])\n', "git",
        divergence=Divergence(
            _BYTES.format(what="`pattern element must be a string or list of strings "
                          "(got bytes)`"), 1, "",
            _frame('Parse error: unexpected string literal "x" here, expected one of "\\n", '
                   '"!=", "%", "%=", "&", "&=", "(", ")", "*", "*=", "+", "+=", ",", "-", "-=", '
                   '".", "/", "//", "//=", "/=", ":", ";", "<", "<<", "<<=", "<=", "=", "==", '
                   '">", ">=", ">>", ">>=", "[", "]", "^", "^=", "and", "else", "for", "if", '
                   '"in", "not", "or", "|", "|=" or "}"', 'prefix_rule([b"x"])', 15, 3))),
    # ------------------------------------------------------- parameter binding
    one("bind-prefix-rule-missing-pattern", "prefix_rule()\n", "git"),
    one("bind-prefix-rule-missing-pattern-with-kwargs", 'prefix_rule(decision="allow")\n',
        "git"),
    one("bind-prefix-rule-extra-named", 'prefix_rule(["git"], foo=1)\n', "git"),
    one("bind-prefix-rule-two-extra-named", 'prefix_rule(["git"], zeta=1, alpha=2)\n', "git"),
    one("bind-prefix-rule-reviewer", 'prefix_rule(["git"], reviewer="x")\n', "git"),
    one("bind-prefix-rule-seven-positionals",
        'prefix_rule(["git"], "allow", [], [], "j", False, 1)\n', "git"),
    one("bind-prefix-rule-positional-and-keyword", 'prefix_rule(["git"], pattern=["x"])\n',
        "git"),
    one("bind-prefix-rule-repeated-keyword",
        'prefix_rule(pattern=["git"], decision="allow", decision="prompt")\n', "git"),
    one("bind-prefix-rule-positional-after-keyword",
        'prefix_rule(pattern=["git"], "prompt")\n', "git"),
    one("bind-prefix-rule-sixth-positional-type",
        'prefix_rule(["git"], "allow", [], [], "j", "yes")\n', "git"),
    one("bind-pattern-string", 'prefix_rule("git")\n', "git"),
    one("bind-pattern-int", "prefix_rule(pattern=42)\n", "git"),
    one("bind-pattern-none", "prefix_rule(None)\n", "git"),
    one("bind-pattern-dict", 'prefix_rule({"a": [1, "b"], "c": None})\n', "git"),
    one("bind-pattern-bool", "prefix_rule(True)\n", "git"),
    one("bind-decision-none", 'prefix_rule(["git"], decision=None)\n', "git"),
    one("bind-decision-int", 'prefix_rule(["git"], 1)\n', "git"),
    one("bind-decision-list-repr-escapes", 'prefix_rule(["git"], ["a\\"b\\n", "\\t\\\\"])\n',
        "git"),
    one("bind-decision-unicode-repr", 'prefix_rule(["git"], ["\u00e9\\x01\u2028"])\n', "git"),
    one("bind-justification-none", 'prefix_rule(["git"], justification=None)\n', "git"),
    one("bind-justification-list", 'prefix_rule(["git"], justification=["x"])\n', "git"),
    one("bind-canonical-none", 'prefix_rule(["git"], canonical_matching=None)\n', "git"),
    one("bind-canonical-int", 'prefix_rule(["git"], canonical_matching=1)\n', "git"),
    one("bind-canonical-string", 'prefix_rule(["git"], canonical_matching="true")\n', "git"),
    one("bind-canonical-float", 'prefix_rule(["git"], canonical_matching=1.5)\n', "git"),
    one("bind-match-none", 'prefix_rule(["git"], match=None)\n', "git"),
    one("bind-match-string", 'prefix_rule(["git"], match="git")\n', "git"),
    one("bind-not-match-dict", 'prefix_rule(["git"], not_match={"git": 1})\n', "git"),
    one("bind-kwargs-expansion-unknown", 'prefix_rule(**{"pattern": ["git"], "x": 1})\n',
        "git"),
    one("bind-type-error-before-decision", 'prefix_rule(["git"], "deny", canonical_matching=0)\n',
        "git"),
    one("bind-host-executable-missing-paths", 'host_executable("git")\n', "git"),
    one("bind-host-executable-missing-all", "host_executable()\n", "git"),
    one("bind-host-executable-name-int", 'host_executable(1, ["/usr/bin/git"])\n', "git"),
    one("bind-host-executable-paths-string", 'host_executable("git", "/usr/bin/git")\n', "git"),
    one("bind-host-executable-paths-none", 'host_executable("git", None)\n', "git"),
    one("bind-host-executable-extra-named", 'host_executable("git", [], path="x")\n', "git"),
    one("bind-host-executable-extra-positional", 'host_executable("git", [], [])\n', "git"),
    one("bind-host-executable-keywords", 'host_executable(paths=[], name="git")\n'
        'prefix_rule(["git"])\n', "/usr/bin/git", flags=("--resolve-host-executables",)),
    one("bind-network-rule-missing-decision", 'network_rule("a.com", "https")\n', "git"),
    one("bind-network-rule-missing-all", "network_rule()\n", "git"),
    one("bind-network-rule-host-int", 'network_rule(1, "https", "allow")\n', "git"),
    one("bind-network-rule-justification-none",
        'network_rule("a.com", "https", "allow", None)\n', "git"),
    one("bind-network-rule-extra-positional",
        'network_rule("a.com", "https", "allow", "j", "x")\n', "git"),
    one("bind-network-rule-extra-named",
        'network_rule("a.com", "https", "allow", port=443)\n', "git"),
    one("bind-network-rule-keywords",
        'network_rule(decision="allow", protocol="http", host="a.com", justification="j")\n'
        'prefix_rule(["git"])\n', "git"),
    one("bind-tuple-as-match-list", 'prefix_rule(["git"], match=("git",))\n', "git",
        divergence=Divergence(
            _TUPLE.format(what="`Type of parameter `match` doesn't match`"), 0,
            '{"matchedRules":[{"prefixRuleMatch":{"matchedPrefix":["git"],'
            '"decision":"allow"}}],"decision":"allow"}\n', "")),
    one("bind-tuple-as-host-paths", 'host_executable("git", ("/usr/bin/git",))\n', "git",
        divergence=Divergence(
            _TUPLE.format(what="`Type of parameter `paths` doesn't match`"), 0,
            '{"matchedRules":[]}\n', "")),
    # ------------------------------------------------------- decision
    one("decision-deny", 'prefix_rule(["git"], "deny")\n', "git"),
    one("decision-capitalised", 'prefix_rule(["git"], "Allow")\n', "git"),
    one("decision-prompt-user", 'prefix_rule(["git"], "prompt-user")\n', "git"),
    one("decision-ask", 'prefix_rule(["git"], "ask")\n', "git"),
    one("decision-empty", 'prefix_rule(["git"], "")\n', "git"),
    one("decision-padded", 'prefix_rule(["git"], " allow")\n', "git"),
    one("decision-with-newline", 'prefix_rule(["git"], "allow\\nx")\n', "git"),
    one("decision-before-justification", 'prefix_rule(["git"], "deny", justification="")\n',
        "git"),
    one("decision-before-pattern", 'prefix_rule([], "deny")\n', "git"),
    # ------------------------------------------------------- justification
    one("just-empty", 'prefix_rule(["git"], justification="")\n', "git"),
    one("just-spaces", 'prefix_rule(["git"], justification="   ")\n', "git"),
    one("just-tab-newline-cr", 'prefix_rule(["git"], justification="\\t\\n\\r")\n', "git"),
    one("just-vt-ff", 'prefix_rule(["git"], justification="\\x0b\\x0c")\n', "git"),
    one("just-nbsp", 'prefix_rule(["git"], justification="\u00a0")\n', "git"),
    one("just-ideographic-space", 'prefix_rule(["git"], justification="\u3000")\n', "git"),
    one("just-line-separator", 'prefix_rule(["git"], justification="\u2028\u2029")\n', "git"),
    one("just-next-line", 'prefix_rule(["git"], justification="\u0085")\n', "git"),
    one("just-ogham-and-en-space", 'prefix_rule(["git"], justification="\u1680\u2002")\n',
        "git"),
    one("just-unit-separator-is-text", 'prefix_rule(["git"], justification="\\x1f")\n', "git"),
    one("just-file-separator-is-text", 'prefix_rule(["git"], justification="\\x1c\\x1d\\x1e")\n',
        "git"),
    one("just-zero-width-space-is-text", 'prefix_rule(["git"], justification="\u200b")\n',
        "git"),
    one("just-mongolian-vowel-separator-is-text",
        'prefix_rule(["git"], justification="\u180e")\n', "git"),
    one("just-before-pattern", 'prefix_rule([], justification=" ")\n', "git"),
    # ------------------------------------------------------- pattern
    one("pattern-empty", "prefix_rule([])\n", "git"),
    one("pattern-empty-alternatives", 'prefix_rule(["git", []])\n', "git"),
    one("pattern-empty-first-alternatives", "prefix_rule([[]])\n", "git"),
    one("pattern-element-int", 'prefix_rule(["git", 1])\n', "git"),
    one("pattern-element-none", "prefix_rule([None])\n", "git"),
    one("pattern-element-dict", 'prefix_rule(["git", {"a": "b"}])\n', "git"),
    one("pattern-element-bool", 'prefix_rule(["git", False])\n', "git"),
    one("pattern-element-float", 'prefix_rule(["git", 1.5])\n', "git"),
    one("pattern-alternative-int", 'prefix_rule(["git", ["a", 2]])\n', "git"),
    one("pattern-alternative-none", 'prefix_rule([["git", None]])\n', "git"),
    one("pattern-alternative-list", 'prefix_rule(["git", ["a", ["b"]]])\n', "git"),
    one("pattern-left-to-right-empty-alternatives-first",
        'prefix_rule(["git", [], 1])\n', "git"),
    one("pattern-left-to-right-element-first", 'prefix_rule([1, []])\n', "git"),
    one("pattern-alternative-type-before-empty", 'prefix_rule(["git", [1], []])\n', "git"),
    one("pattern-before-examples", 'prefix_rule([], match=[1])\n', "git"),
    one("pattern-tuple-alternatives", 'prefix_rule(["git", ("a",)])\n', "git", "a",
        divergence=Divergence(
            _TUPLE.format(what="`pattern element must be a string or list of strings "
                          "(got tuple)`"), 0,
            '{"matchedRules":[{"prefixRuleMatch":{"matchedPrefix":["git","a"],'
            '"decision":"allow"}}],"decision":"allow"}\n', "")),
    # ------------------------------------------------------- example parsing
    one("example-int", 'prefix_rule(["git"], match=[1])\n', "git"),
    one("example-none", 'prefix_rule(["git"], not_match=[None])\n', "git"),
    one("example-dict", 'prefix_rule(["git"], match=[{"git": "status"}])\n', "git"),
    one("example-token-int", 'prefix_rule(["git"], match=[["git", 1]])\n', "git"),
    one("example-token-none", 'prefix_rule(["git"], not_match=[[None]])\n', "git"),
    one("example-token-list", 'prefix_rule(["git"], match=[["git", ["a"]]])\n', "git"),
    one("example-empty-list", 'prefix_rule(["git"], match=[[]])\n', "git"),
    one("example-empty-string", 'prefix_rule(["git"], match=[""])\n', "git"),
    one("example-blank-string", 'prefix_rule(["git"], not_match=[" \\t\\n "])\n', "git"),
    one("example-comment-only", 'prefix_rule(["git"], match=["# just a comment"])\n', "git"),
    one("example-unterminated-single-quote", 'prefix_rule(["git"], match=["git \'a"])\n', "git"),
    one("example-unterminated-double-quote", 'prefix_rule(["git"], match=["git \\"a"])\n',
        "git"),
    one("example-trailing-backslash", 'prefix_rule(["git"], match=["git \\\\"])\n', "git"),
    one("example-match-before-not-match",
        'prefix_rule(["git"], not_match=[1], match=[[]])\n', "git"),
    one("example-first-bad-example-wins", 'prefix_rule(["git"], match=["git", 1, []])\n', "git"),
    one("example-parsed-at-call-time",
        'prefix_rule(["git"], match=[1])\nfail("never reached")\n', "git"),
    one("example-tuple", 'prefix_rule(["git"], match=[("git",)])\n', "git",
        divergence=Divergence(
            _TUPLE.format(what="`example must be a string or list of strings (got tuple)`"),
            0, '{"matchedRules":[{"prefixRuleMatch":{"matchedPrefix":["git"],'
            '"decision":"allow"}}],"decision":"allow"}\n', "")),
    # ------------------------------------------------------- example checks
    one("excheck-all-pass",
        'prefix_rule(["git", ["status", "log"]], match=["git status", ["git", "log", "-1"]],'
        ' not_match=["git push", "hg status", ["git"]])\n', "git", "log"),
    one("excheck-not-match-fails", 'prefix_rule(["git"], not_match=["git status"])\n', "git"),
    one("excheck-match-fails", 'prefix_rule(["git", "status"], match=["git push"])\n', "git"),
    one("excheck-match-several-unmatched",
        'prefix_rule(["git", "status"], "prompt", match=["git status", "git push", '
        '["hg"], "git"])\n', "git"),
    one("excheck-not-match-before-match",
        'prefix_rule(["git"], match=["hg"], not_match=["git"])\n', "git"),
    one("excheck-first-failing-not-match-reported",
        'prefix_rule(["git"], not_match=["hg", "git a", "git b"])\n', "git"),
    one("excheck-calls-in-source-order",
        'prefix_rule(["a"], match=["b"])\nprefix_rule(["c"], not_match=["c"])\n', "git"),
    one("excheck-deferred-until-file-end",
        'prefix_rule(["git"], match=["hg"])\nfail("later")\n', "git"),
    one("excheck-deferred-after-validation-error",
        'prefix_rule(["git"], match=["hg"])\nprefix_rule(["git"], "nope")\n', "git"),
    one("excheck-only-own-rules",
        'prefix_rule(["git"])\nprefix_rule(["git", "status"], match=["git"])\n', "git"),
    one("excheck-first-token-alternatives-all-rules",
        'prefix_rule([["git", "hg"], "st"], match=["svn st"])\n', "git"),
    one("excheck-first-token-alternatives-any-rule",
        'prefix_rule([["git", "hg"], "st"], match=["hg st", "git st"])\n', "hg", "st"),
    one("excheck-debug-alternatives-canonical-justification",
        'prefix_rule(["git", ["a", "b"], "c"], "forbidden", match=["git c"], '
        'justification="no \\"way\\"", canonical_matching=True)\n', "git"),
    one("excheck-debug-not-match-with-justification",
        'prefix_rule(["git", ["a", "b"]], "prompt", not_match=["git b x"], '
        'justification="j\\tk")\n', "git"),
    one("excheck-debug-string-escapes",
        'prefix_rule(["g\\ti\\\\t\\"\'", "\u00e9\U0001f600", "\u200b\u00ad\u00a0\u3000\u2028", '
        '"e\u0301\u20dd\\x00\\x1b\\x7f\ue000"], match=["nomatch"])\n', "git"),
    one("excheck-debug-not-match-escapes",
        'prefix_rule(["g\\ti\\\\t\\"\'", "\u00e9\u200b\\x00"], '
        'not_match=[["g\\ti\\\\t\\"\'", "\u00e9\u200b\\x00"]])\n', "git"),
    one("excheck-render-quoting",
        'prefix_rule(["never"], match=[["a b", "it\'s", "\u00e9", "x=y", "a\\\\b", '
        '"\\\\$x", "^x", "a^b", "", "git", "-v", "a!b", "tab\\there", "$HOME", "`x`", '
        '"\\"q\\"", "semi;colon", "~user", "@:/.+-_]", "[x]", "*", "{a,b}", "new\\nline"]])\n',
        "git"),
    one("excheck-render-nul-token",
        'prefix_rule(["never"], match=[["a", "b\\x00c"], "ok token"])\n', "git"),
    one("excheck-render-non-ascii-mixed",
        'prefix_rule(["never"], match=[["\U0001f600!", "\u00e9\'", "\u00e9^", "^\u00e9", '
        '"x\\x7fy", "\u2028"]])\n', "git"),
    one("excheck-not-match-rendering",
        'prefix_rule(["echo"], not_match=[["echo", "it\'s a \\"test\\"", ""]])\n', "git"),
    one("excheck-shlex-comment", 'prefix_rule(["git", "#x"], match=["git #x"])\n', "git"),
    one("excheck-shlex-hash-inside-word", 'prefix_rule(["git", "a#x"], match=["git a#x"])\n',
        "git", "a#x"),
    one("excheck-shlex-quotes-and-escapes",
        'prefix_rule(["git", "a b", "c\'d", "e\\\\f", "g$h", "i\\\\j"], '
        'match=[\'git "a b" "c\\\'d" "e\\\\\\\\f" "g\\\\$h" i\\\\\\\\j\'])\n', "git"),
    one("excheck-shlex-backslash-kept-in-double-quotes",
        'prefix_rule(["git", "\\\\a"], match=[\'git "\\\\a"\'])\n', "git"),
    one("excheck-shlex-single-quotes-literal",
        'prefix_rule(["git", "\\\\n$x"], match=["git \'\\\\n$x\'"])\n', "git"),
    one("excheck-shlex-separators",
        'prefix_rule(["git", "a", "b"], match=["git\\ta\\nb", "  git   a b  "])\n', "git"),
    one("excheck-shlex-non-separator-whitespace",
        'prefix_rule(["git", "a"], match=["git\\x0ba"])\n', "git"),
    one("excheck-shlex-line-continuation",
        'prefix_rule(["git", "ab"], match=["git a\\\\\\nb"])\n', "git"),
    one("excheck-shlex-adjacent-quotes",
        'prefix_rule(["git", "abc"], match=["git a\'b\'\\"c\\""])\n', "git"),
    one("excheck-resolved-match-passes",
        'prefix_rule(["git"], match=["/usr/bin/git status"])\n', "git"),
    one("excheck-resolved-not-match-fails",
        'prefix_rule(["git"], "prompt", not_match=["/usr/local/../bin/git status"])\n', "git"),
    one("excheck-relative-example-resolves",
        'prefix_rule(["git"], match=["./git status", "bin/git"])\n', "git"),
    one("excheck-exact-absolute-rule",
        'prefix_rule(["/usr/bin/git"], not_match=["git"], match=["/usr/bin/git"])\n', "git"),
    one("excheck-host-executable-later-in-same-file",
        'prefix_rule(["git"], match=["/usr/bin/git"])\n'
        'host_executable("git", ["/opt/git"])\n', "git"),
    one("excheck-host-executable-allows-listed",
        'prefix_rule(["git"], match=["/opt/git"], not_match=["/usr/bin/git"])\n'
        'host_executable("git", ["/opt/git"])\n', "git"),
    multi("excheck-host-executable-from-earlier-file",
          {"a.rules": 'host_executable("git", ["/opt/git"])\n',
           "b.rules": 'prefix_rule(["git"], match=["/usr/bin/git"])\n'},
          "--rules", "a.rules", "--rules", "b.rules", "git"),
    multi("excheck-host-executable-from-later-file-not-seen",
          {"a.rules": 'prefix_rule(["git"], match=["/usr/bin/git"])\n',
           "b.rules": 'host_executable("git", ["/opt/git"])\n'},
          "--rules", "a.rules", "--rules", "b.rules", "git"),
    one("excheck-canonical-examples",
        'prefix_rule(["git", "status"], canonical_matching=True, match=["GIT STATUS"], '
        'not_match=["git push"])\n', "git", "status"),
    one("excheck-non-canonical-example-case",
        'prefix_rule(["git"], match=["GIT"])\n', "git"),
    one("excheck-empty-token-example",
        'prefix_rule(["git", ""], match=[["git", ""], "git \'\'"])\n', "git", ""),
    one("excheck-unicode-example-unmatched",
        'prefix_rule(["caf\u00e9"], match=["cafe\u0301"])\n', "git"),
    # ------------------------------------------------------- host_executable
    one("host-name-empty", 'host_executable("", ["/usr/bin/git"])\n', "git"),
    one("host-name-with-slash", 'host_executable("bin/git", ["/usr/bin/git"])\n', "git"),
    one("host-name-absolute", 'host_executable("/usr/bin/git", ["/usr/bin/git"])\n', "git"),
    one("host-name-trailing-slash", 'host_executable("git/", ["/usr/bin/git"])\n', "git"),
    one("host-name-dot", 'host_executable(".", ["/usr/bin/git"])\n', "git"),
    one("host-name-dotdot", 'host_executable("..", [])\n', "git"),
    one("host-name-empty-before-paths", 'host_executable("", [1])\n', "git"),
    one("host-name-odd-but-valid",
        'host_executable("git.exe", ["/c/git.exe"])\nhost_executable("a\\\\b", [])\n'
        'host_executable(" x ", ["/ x "])\nhost_executable("...", [])\n'
        'host_executable("-", ["/-"])\nprefix_rule(["git"])\n', "git"),
    one("host-path-int", 'host_executable("git", ["/usr/bin/git", 1])\n', "git"),
    one("host-path-list", 'host_executable("git", [["/usr/bin/git"]])\n', "git"),
    one("host-path-relative", 'host_executable("git", ["git"])\n', "git"),
    one("host-path-dot-relative", 'host_executable("git", ["./git"])\n', "git"),
    one("host-path-empty", 'host_executable("git", [""])\n', "git"),
    one("host-path-tilde", 'host_executable("git", ["~"])\n', "git"),
    one("host-path-tilde-slash", 'host_executable("git", ["~/bin/git"])\n', "git"),
    one("host-path-tilde-user", 'host_executable("git", ["~user/bin/git"])\n', "git"),
    one("host-path-wrong-basename", 'host_executable("git", ["/usr/bin/hg"])\n', "git"),
    one("host-path-case-differs", 'host_executable("git", ["/usr/bin/GIT"])\n', "git"),
    one("host-path-root", 'host_executable("git", ["/"])\n', "git"),
    one("host-path-dotdot-changes-basename", 'host_executable("git", ["/usr/bin/git/.."])\n',
        "git"),
    one("host-path-dot-suffix", 'host_executable("git", ["/usr/bin/git/."])\n', "git"),
    one("host-path-first-bad-path-wins",
        'host_executable("git", ["/usr/bin/git", "rel/git", "/usr/bin/hg"])\n', "git"),
    one("host-path-normalisations-valid",
        'host_executable("git", ["/usr//bin/./git", "/usr/bin/../bin/git", "/usr/bin/git/",'
        ' "/usr/bin/git"])\nprefix_rule(["git"])\n',
        "/usr/bin/git", flags=("--resolve-host-executables",)),
    one("host-path-backslash-name", 'host_executable("a\\\\b", ["/x/a\\\\b"])\n'
        'prefix_rule(["a\\\\b"])\n', "/x/a\\b", flags=("--resolve-host-executables",)),
    # ------------------------------------------------------- network_rule
    one("net-valid-variants",
        'network_rule("example.com", "http", "allow")\n'
        'network_rule("EXAMPLE.com.", "https", "deny", "why")\n'
        'network_rule("example.com:443", "https_connect", "prompt")\n'
        'network_rule("example.com:abc", "http-connect", "forbidden")\n'
        'network_rule(":80", "socks5_tcp", "allow")\n'
        'network_rule("a:b:c", "socks5_udp", "allow")\n'
        'network_rule("::1", "http", "allow")\n'
        'network_rule("example.com:", "http", "allow")\n'
        'network_rule("[::1]", "http", "allow")\n'
        'network_rule("[::1]:8080", "http", "allow")\n'
        'network_rule("  padded.example  ", "http", "allow")\n'
        'network_rule("a\\x1fb", "http", "allow")\n'
        'network_rule("\u00e9xample.com", "http", "allow")\n'
        'network_rule("1.2.3.4", "http", "allow")\n'
        'prefix_rule(["git"])\n', "git"),
    one("net-protocol-upper", 'network_rule("a.com", "HTTP", "allow")\n', "git"),
    one("net-protocol-ftp", 'network_rule("a.com", "ftp", "allow")\n', "git"),
    one("net-protocol-socks5", 'network_rule("a.com", "socks5", "allow")\n', "git"),
    one("net-protocol-empty", 'network_rule("a.com", "", "allow")\n', "git"),
    one("net-decision-ask", 'network_rule("a.com", "https", "ask")\n', "git"),
    one("net-decision-upper-deny", 'network_rule("a.com", "https", "DENY")\n', "git"),
    one("net-decision-prompt-user", 'network_rule("a.com", "https", "prompt-user")\n', "git"),
    one("net-justification-empty", 'network_rule("a.com", "https", "allow", "")\n', "git"),
    one("net-justification-whitespace",
        'network_rule("a.com", "https", "allow", justification="\u3000\\n")\n', "git"),
    one("net-host-empty", 'network_rule("", "https", "allow")\n', "git"),
    one("net-host-blank", 'network_rule(" \\t ", "https", "allow")\n', "git"),
    one("net-host-scheme", 'network_rule("https://a.com", "https", "allow")\n', "git"),
    one("net-host-path", 'network_rule("a.com/x", "https", "allow")\n', "git"),
    one("net-host-query", 'network_rule("a.com?x", "https", "allow")\n', "git"),
    one("net-host-fragment", 'network_rule("a.com#x", "https", "allow")\n', "git"),
    one("net-ipv6-unclosed", 'network_rule("[::1", "https", "allow")\n', "git"),
    one("net-ipv6-suffix", 'network_rule("[::1]x", "https", "allow")\n', "git"),
    one("net-ipv6-suffix-colon-only", 'network_rule("[::1]:", "https", "allow")\n', "git"),
    one("net-ipv6-suffix-non-digit-port", 'network_rule("[::1]:8a", "https", "allow")\n', "git"),
    one("net-ipv6-suffix-raw-untrimmed", 'network_rule("  [::1]:x ", "https", "allow")\n', "git"),
    one("net-host-dot", 'network_rule(".", "https", "allow")\n', "git"),
    one("net-host-dots", 'network_rule("..", "https", "allow")\n', "git"),
    one("net-host-empty-brackets", 'network_rule("[]", "https", "allow")\n', "git"),
    one("net-host-blank-brackets", 'network_rule("[ ]:443", "https", "allow")\n', "git"),
    one("net-host-port-only-after-dot", 'network_rule(".:443", "https", "allow")\n', "git"),
    one("net-host-wildcard", 'network_rule("*.example.com", "https", "allow")\n', "git"),
    one("net-host-bracketed-wildcard", 'network_rule("[*]", "https", "allow")\n', "git"),
    one("net-host-whitespace", 'network_rule("a b.com", "https", "allow")\n', "git"),
    one("net-host-ideographic-space", 'network_rule("a\u3000b", "https", "allow")\n', "git"),
    one("net-host-whitespace-before-trailing-dot",
        'network_rule("a .", "https", "allow")\n', "git"),
    one("net-order-protocol-first", 'network_rule("", "ftp", "ask", "")\n', "git"),
    one("net-order-decision-second", 'network_rule("", "http", "ask", "")\n', "git"),
    one("net-order-justification-third", 'network_rule("", "http", "deny", " ")\n', "git"),
    # ------------------------------------------------------- read errors
    multi("read-missing-file", {}, "--rules", "missing.rules", "git"),
    multi("read-missing-file-path-as-given", {}, "--rules", "./nope/../missing.rules", "git"),
    multi("read-directory", {"dir.rules/": ""}, "--rules", "dir.rules", "git"),
    one("read-invalid-utf8", b'prefix_rule(["git"], justification="\xff")\n', "git"),
    one("read-latin1", b'prefix_rule(["caf\xe9"])\n', "git"),
    one("read-truncated-utf8", b'prefix_rule(["\xe2\x82"])', "git"),
    one("read-utf16", "prefix_rule([])\n".encode("utf-16"), "git"),
    multi("read-invalid-utf8-second-file",
          {"a.rules": 'prefix_rule(["git"])\n', "b.rules": b"\x80\n"},
          "--rules", "a.rules", "--rules", "b.rules", "git"),
    multi("read-empty-path", {}, "--rules", "", "git"),
    # ------------------------------------------------------- CLI usage
    multi("cli-no-arguments", {}),
    multi("cli-missing-rules", {}, "git", "status"),
    multi("cli-missing-command", {"a.rules": ""}, "--rules", "a.rules"),
    multi("cli-rules-without-value", {}, "--rules"),
    multi("cli-r-without-value", {}, "git", "-r"),
    multi("cli-rules-value-looks-like-option", {"a.rules": ""}, "--rules", "--pretty", "git"),
    multi("cli-pretty-twice", {"a.rules": ""}, "--rules", "a.rules", "--pretty", "--pretty",
          "git"),
    multi("cli-resolve-twice", {"a.rules": ""}, "--resolve-host-executables", "--rules",
          "a.rules", "--resolve-host-executables", "git"),
    multi("cli-pretty-with-value", {"a.rules": ""}, "--pretty=true", "--rules", "a.rules",
          "git"),
    multi("cli-double-dash", {"a.rules": 'prefix_rule(["git"])\n'},
          "--rules", "a.rules", "--", "git", "status"),
    multi("cli-double-dash-then-option-like", {"a.rules": 'prefix_rule(["--pretty"])\n'},
          "--rules", "a.rules", "--", "--pretty"),
    multi("cli-double-dash-without-command", {"a.rules": ""}, "--rules", "a.rules", "--"),
    multi("cli-double-dash-twice", {"a.rules": 'prefix_rule(["--"])\n'},
          "--rules", "a.rules", "--", "--", "x"),
    multi("cli-options-after-command-are-tokens",
          {"a.rules": 'prefix_rule(["git", "--pretty", "--rules"])\n'},
          "--rules", "a.rules", "git", "--pretty", "--rules", "b.rules"),
    multi("cli-double-dash-after-command", {"a.rules": 'prefix_rule(["git", "--"])\n'},
          "--rules", "a.rules", "git", "--", "x"),
    multi("cli-unknown-long-option-becomes-command",
          {"a.rules": 'prefix_rule(["--unknown", "git"])\n'},
          "--rules", "a.rules", "--unknown", "git"),
    multi("cli-unknown-short-option-becomes-command",
          {"a.rules": 'prefix_rule(["-x"])\n'}, "--rules", "a.rules", "-x"),
    multi("cli-unknown-option-before-rules", {"a.rules": ""}, "--unknown", "--rules", "a.rules"),
    multi("cli-single-dash-command", {"a.rules": 'prefix_rule(["-"])\n'},
          "--rules", "a.rules", "-"),
    multi("cli-empty-command-token", {"a.rules": 'prefix_rule([""])\n'},
          "--rules", "a.rules", ""),
    multi("cli-short-r", {"a.rules": 'prefix_rule(["git"])\n'}, "-r", "a.rules", "git"),
    multi("cli-rules-equals", {"a.rules": 'prefix_rule(["git"])\n'}, "--rules=a.rules", "git"),
    multi("cli-r-attached", {"a.rules": 'prefix_rule(["git"])\n'}, "-ra.rules", "git"),
    multi("cli-r-equals", {"a.rules": 'prefix_rule(["git"])\n'}, "-r=a.rules", "git"),
    multi("cli-rules-equals-empty", {}, "--rules=", "git"),
    multi("cli-comma-is-not-a-separator",
          {"a.rules": 'prefix_rule(["git"])\n', "b.rules": ""}, "--rules", "a.rules,b.rules",
          "git"),
    multi("cli-config-option-ignored", {"a.rules": 'prefix_rule(["git"])\n'},
          "-c", "model=o3", "--rules", "a.rules", "-c", "not toml", "git"),
    multi("cli-config-equals-and-empty", {"a.rules": 'prefix_rule(["git"])\n'},
          "--config=a=b", "-c", "", "--rules", "a.rules", "git"),
    multi("cli-config-value-may-start-with-dash", {"a.rules": 'prefix_rule(["git"])\n'},
          "-c", "-x", "--rules", "a.rules", "git"),
    multi("cli-config-value-is-a-flag", {"a.rules": ""}, "-c", "--pretty", "--rules", "a.rules",
          "git"),
    multi("cli-enable-unknown-feature", {"a.rules": 'prefix_rule(["git"])\n'},
          "--rules", "a.rules", "--enable", "x", "git",
          divergence=Divergence(
              "the reference validates --enable/--disable names against its feature registry "
              "(`Error: Unknown feature flag: x`, exit 1); that list is internal to Codex, so "
              "we accept and ignore any name", 0,
              '{"matchedRules":[{"prefixRuleMatch":{"matchedPrefix":["git"],'
              '"decision":"allow"}}],"decision":"allow"}\n', "")),
    multi("cli-missing-command-usage-lists-used-flags", {"a.rules": ""},
          "--resolve-host-executables", "--pretty", "--rules", "a.rules"),
    multi("cli-missing-both-with-pretty", {}, "--pretty"),
    multi("cli-missing-command-with-config", {"a.rules": ""}, "-c", "x=y", "-c", "z=1",
          "--rules", "a.rules"),
    multi("cli-missing-rules-with-enable", {}, "--enable", "x", "git"),
    multi("cli-rules-twice-missing-command", {"a.rules": ""}, "--rules", "a.rules",
          "-r", "a.rules"),
    multi("cli-resolve-with-value", {"a.rules": ""}, "--rules", "a.rules",
          "--resolve-host-executables=1", "git"),
    multi("cli-pretty-empty-value", {"a.rules": ""}, "--rules", "a.rules", "--pretty=", "git"),
    multi("cli-pretty-value-after-pretty", {"a.rules": ""}, "--pretty", "--pretty=x"),
    multi("cli-rules-value-unknown-long", {}, "--rules", "--unknown", "git"),
    multi("cli-rules-value-unknown-short", {"-x": 'prefix_rule(["git"])\n'},
          "--rules", "-x", "git"),
    multi("cli-rules-value-negative-number", {}, "--rules", "-1", "git"),
    multi("cli-rules-value-double-dash", {}, "--rules", "--", "git"),
    multi("cli-rules-value-known-short", {}, "-r", "-r", "git"),
    multi("cli-rules-value-known-short-cluster", {}, "--rules", "-rc", "git"),
    multi("cli-rules-value-help-short", {}, "--rules", "-h", "git"),
    multi("cli-rules-value-flag-with-value", {}, "--rules", "--pretty=1", "git"),
    multi("cli-rules-value-rules-equals", {"a.rules": ""}, "--rules", "--rules=a.rules", "git"),
    multi("cli-r-cluster-of-known-shorts", {"c": 'prefix_rule(["git"], "prompt")\n'},
          "-rc", "git"),
    multi("cli-r-cluster-rr", {}, "-rr", "git"),
    multi("cli-rules-empty-second-value", {"a.rules": ""}, "--rules", "a.rules", "-r", "",
          "git"),
    multi("cli-double-dash-before-rules", {"a.rules": ""}, "--", "--rules", "a.rules", "git"),
    multi("cli-help-after-command-is-a-token", {"a.rules": 'prefix_rule(["git", "-h"])\n'},
          "--rules", "a.rules", "git", "-h", "--help"),
    multi("cli-negative-number-command", {"a.rules": 'prefix_rule(["-1"])\n'},
          "--rules", "a.rules", "-1"),
    multi("cli-config-without-value", {"a.rules": ""}, "--rules", "a.rules", "-c"),
    multi("cli-flags-after-rules-before-command",
          {"a.rules": 'prefix_rule(["git"])\n'},
          "--rules", "a.rules", "--pretty", "--resolve-host-executables", "/bin/git"),
    multi("cli-rules-value-is-dash", {"-": ""}, "--rules", "-", "git"),
]

# Edge cases found while building the suite, grouped like the list above.
CASES += [
    # matching and canonical folding
    one("canon-capital-sharp-s", 'prefix_rule(["\u1e9e"], canonical_matching=True)\n', "ss"),
    one("canon-dotless-i-not-folded", 'prefix_rule(["i"], canonical_matching=True)\n',
        "\u0131"),
    one("canon-titlecase-digraph", 'prefix_rule(["\u01c6"], canonical_matching=True)\n',
        "\u01c5"),
    one("canon-st-ligature", 'prefix_rule(["ST"], canonical_matching=True)\n', "\ufb06"),
    one("canon-apostrophe-n", 'prefix_rule(["\u02bcN"], canonical_matching=True)\n', "\u0149"),
    one("canon-matched-prefix-alternative-spelling",
        'prefix_rule(["git", ["A", "b"]], canonical_matching=True)\n', "GIT", "a", "z"),
    one("canon-cross-key-after-exact-in-several-files-order",
        'prefix_rule(["Git"], "forbidden", canonical_matching=True)\n'
        'prefix_rule(["GIT"], "prompt")\nprefix_rule(["GIT", "x"], canonical_matching=True)\n',
        "GIT", "X"),
    resolve("resolve-canonical-cross-key-basename",
            'prefix_rule(["GIT"], canonical_matching=True)\n', "/usr/bin/git"),
    resolve("resolve-canonical-basename-gate-applies",
            'host_executable("git", ["/opt/git"])\nprefix_rule(["GIT"], canonical_matching=True)\n',
            "/usr/bin/git"),
    resolve("resolve-canonical-other-spelling-ungated",
            'host_executable("git", ["/opt/git"])\nprefix_rule(["GIT"], canonical_matching=True)\n',
            "/usr/bin/Git"),
    resolve("resolve-host-executable-keys-case-sensitive",
            'host_executable("GIT", ["/opt/GIT"])\nprefix_rule(["git"])\n', "/usr/bin/git"),
    resolve("resolve-after-unmatched-exact-rule",
            'prefix_rule(["/usr/bin/git", "push"])\nprefix_rule(["git"], "prompt")\n',
            "/usr/bin/git", "status"),
    resolve("resolve-json-escapes-in-path", 'prefix_rule(["g\\"\\n"])\n', '/x y/\u00e9/g"\n'),
    resolve("resolve-unicode-path", 'prefix_rule(["\u00e9"])\n', "/\u00e9t\u00e9/./\u00e9"),
    # Starlark repr in type errors, binding order
    one("bind-repr-non-ascii-letters-and-symbols",
        'prefix_rule(["git"], ["\u65e5\u672c \u03b1\u03b2 \U0001f600 \u00bd \u00b2 \u2167 '
        '\u0301 \u00ad \u00a0 \u200b \ufeff \ue000 \u2028 \u0085 \u00ff \u0100 \u01c5"])\n',
        "git"),
    one("bind-repr-numbers", 'prefix_rule(["git"], [1.0, 1e20, -0.5, 12345678901234567890, '
        '-3, 1e-7, 0.1])\n', "git"),
    one("bind-repr-nested", 'prefix_rule(["git"], decision={"k": [None, True, {"x": []}]})\n',
        "git"),
    one("bind-missing-and-extra-named", "prefix_rule(foo=1)\n", "git"),
    one("bind-extra-positional-and-repeated",
        'prefix_rule(["a"], "allow", [], [], "j", False, 1, pattern=["x"])\n', "git"),
    one("bind-repeated-and-extra-named",
        'prefix_rule(["a"], pattern=["x"], foo=1)\n', "git"),
    one("bind-extra-named-and-type-error", 'prefix_rule(1, foo=1)\n', "git"),
    one("bind-missing-and-type-error", 'host_executable(1)\n', "git"),
    one("bind-type-error-order", 'network_rule(1, 2, 3, 4)\n', "git"),
    # dialect: locations and frames
    one("dialect-error-line-one-hundred", "\n" * 99 + 'prefix_rule(["git"], "nope")\n', "git"),
    one("dialect-parse-error-crlf", 'x = 1\r\nprefix_rule(["git"]\r\n', "git"),
    one("dialect-parse-error-after-non-ascii", 'x = "\u00e9\u00e9" )\n', "git"),
    one("dialect-error-column-after-tab", 'x = 1;\tprefix_rule(["git"], "nope")\n', "git"),
    one("dialect-error-in-comprehension", '[prefix_rule([c], "nope") for c in ["a"]]\n', "git"),
    one("dialect-error-in-lambda", 'f = lambda: prefix_rule([], "allow")\nf()\n', "git"),
    one("dialect-fail-non-ascii", 'fail("\u00e9chec \u2014 \U0001f600")\n', "git"),
    one("dialect-fail-non-string", 'fail(["a", 1])\n', "git"),
    one("dialect-getattr-hasattr-dir",
        'prefix_rule([str(hasattr("", "split")), getattr("a b", "split")()[1], '
        'str(len(dir("")) > 0)])\n', "True", "b", "True"),
    one("dialect-unknown-method", 'x = "a".nope()\n', "git"),
    one("dialect-mutate-frozen-global", 'p = ["git"]\ndef f():\n    p.append("x")\n\n'
        'f()\nprefix_rule(p)\n', "git"),
    one("dialect-error-second-of-several-statements-on-line",
        'prefix_rule(["a"]); prefix_rule(["b"], "nope")\n', "git"),
    # examples: shlex and Debug details
    one("excheck-debug-more-categories",
        'prefix_rule(["x", "\\x85\ufeff\ufffd\u0903\u09be\u200d\U000e0001\u00a0"], '
        'match=["never"])\n', "git"),
    one("excheck-render-more-quoting",
        'prefix_rule(["never"], match=[["a\\x00", "b"], ["=", "%", ",", "a,b", "#", "a#", '
        '"}", "{", "&", "|", "<", ">", "(", "?", "\'", "\\"", "\\\\"]])\n', "git"),
    one("excheck-shlex-escaped-quote-in-double",
        'prefix_rule(["git", "a\\"b", "c"], match=[\'git "a\\\\"b" c\'])\n', "git"),
    one("excheck-shlex-backslash-newline-in-double-quotes",
        'prefix_rule(["git", "ab"], match=[\'git "a\\\\\\nb"\'])\n', "git"),
    one("excheck-shlex-hash-after-quote-is-literal",
        'prefix_rule(["git", "a#x"], match=["git \'a\'#x"])\n', "git"),
    one("excheck-shlex-comment-then-next-line",
        'prefix_rule(["git", "b"], match=["git # c\\nb"])\n', "git"),
    one("excheck-relative-example-gated",
        'host_executable("git", ["/usr/bin/git"])\nprefix_rule(["git"], match=["./git"])\n',
        "git"),
    one("excheck-tilde-example-resolves", 'prefix_rule(["git"], match=["~/bin/git x"])\n',
        "git"),
    one("excheck-example-program-with-trailing-slash",
        'prefix_rule(["git"], not_match=["/usr/bin/git/"])\n', "git"),
    one("excheck-not-match-exact-before-resolution",
        'prefix_rule([["/usr/bin/git", "git"]], not_match=["/usr/bin/git"])\n', "git"),
    # host_executable and network_rule details
    one("host-path-with-dot-components-basename",
        'host_executable("git", ["/usr/bin/./git/."])\nprefix_rule(["git"])\n',
        "/usr/bin/git", flags=("--resolve-host-executables",)),
    one("host-path-unicode-basename-mismatch", 'host_executable("caf\u00e9", '
        '["/bin/cafe\u0301"])\n', "git"),
    one("host-name-with-nul", 'host_executable("a\\x00b", ["/a\\x00b"])\nprefix_rule(["x"])\n',
        "x"),
    one("net-ipv6-port-suffix-trailing-garbage", 'network_rule("[::1]:443x", "http", "allow")\n',
        "git"),
    one("net-ipv6-double-bracket", 'network_rule("[::1]]", "http", "allow")\n', "git"),
    one("net-only-open-bracket", 'network_rule("[", "http", "allow")\n', "git"),
    one("net-only-close-bracket", 'network_rule("]", "http", "allow")\n', "git"),
    one("net-trailing-dots-and-space", 'network_rule("a. .", "http", "allow")\n', "git"),
    one("net-port-with-whitespace", 'network_rule("a.com: 443", "http", "allow")\n', "git"),
    one("net-unicode-whitespace-inside", 'network_rule("a\u2028b", "http", "allow")\n', "git"),
    one("net-nbsp-trimmed", 'network_rule("\u00a0a.com\u00a0", "http", "allow")\n'
        'prefix_rule(["ok"])\n', "ok"),
    # read errors
    multi("read-not-a-directory", {"a.rules": 'prefix_rule(["git"])\n'},
          "--rules", "a.rules/", "git"),
    multi("read-non-ascii-missing-path", {}, "--rules", "\u00fc\u00e9.rules", "git"),
    multi("read-error-after-valid-files",
          {"a.rules": 'prefix_rule(["git"])\n', "d/": ""},
          "--rules", "a.rules", "--rules", "a.rules", "--rules", "d", "git"),
]

# Values that do not survive starlark-pyo3's conversion to Python.
_NOT_FINITE = (
    "starlark-pyo3 converts a builtin's arguments through serde (JSON data model), where a "
    "non-finite float becomes None; the reference reports `float (repr: {repr})`"
)
CASES += [
    one("bind-nan-as-decision", 'prefix_rule(["git"], decision=float("nan"))\n', "git",
        divergence=Divergence(
            _NOT_FINITE.format(repr="nan"), 1, "",
            _traceback('prefix_rule(["git"], decision=float("nan"))',
                       "Type of parameter `decision` doesn't match, expected `str`, actual "
                       "`NoneType (repr: None)`"))),
    one("bind-infinity-as-decision", 'prefix_rule(["git"], decision=float("inf"))\n', "git",
        divergence=Divergence(
            _NOT_FINITE.format(repr="+inf"), 1, "",
            _traceback('prefix_rule(["git"], decision=float("inf"))',
                       "Type of parameter `decision` doesn't match, expected `str`, actual "
                       "`NoneType (repr: None)`"))),
    one("bind-function-as-decision", 'prefix_rule(["git"], decision=len)\n', "git",
        divergence=Divergence(
            _SERDE.format(type="function", what="the parameter type mismatch (`function "
                          "(repr: len)`)"), 1, "",
            _traceback('prefix_rule(["git"], decision=len)',
                       "StarlarkError: Operation `serde::serialize` not supported on type "
                       "`function`"))),
    one("dialect-self-referential-pattern", "x = []\nx.append(x)\nprefix_rule(x)\n", "git",
        divergence=Divergence(
            "starlark-pyo3 refuses to convert a cyclic value to Python, so the call fails "
            "before our validation (the reference reports `pattern alternative must be a "
            "string (got list)`)", 1, "",
            _traceback("prefix_rule(x)",
                       "StarlarkError: Cycle detected while converting Starlark value of type "
                       "`list` to Python object", line=3))),
    one("dialect-dict-with-tuple-key-in-pattern", "prefix_rule([{(1, 2): 3}])\n", "git",
        divergence=Divergence(
            "starlark-pyo3 turns the tuple key into a Python list, which cannot be a dict key, "
            "so the call fails before our validation (the reference reports `pattern element "
            "must be a string or list of strings (got dict)`)", 1, "",
            _traceback("prefix_rule([{(1, 2): 3}])", "TypeError: unhashable type: 'list'"))),
]
