"""Text forms the reference uses in example-check errors.

* :func:`split_example` splits a string example like the Rust `shlex` crate
  (POSIX-like, with ``#`` comments at the start of a word).
* :func:`join_example` quotes tokens back with `shlex` 1.3's ``try_join``.
* :func:`rust_debug_str` and friends reproduce Rust ``Debug`` output, which the
  reference embeds in its example-check messages.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from .rule import PatternToken, PrefixRule, RuleMatch

_SEPARATORS = " \t\n"


def split_example(text: str) -> list[str] | None:
    """Split like Rust `shlex::split`; ``None`` on an unterminated quote or a
    trailing backslash."""
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _SEPARATORS:
            i += 1
            continue
        if c == "#":  # a comment runs to the end of the line
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        word: list[str] = []
        while i < n and text[i] not in _SEPARATORS:
            c = text[i]
            if c == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    return None
                word.append(text[i + 1 : end])
                i = end + 1
            elif c == '"':
                i += 1
                while True:
                    if i >= n:
                        return None
                    c = text[i]
                    if c == '"':
                        i += 1
                        break
                    if c == "\\":
                        if i + 1 >= n:
                            return None
                        nxt = text[i + 1]
                        if nxt in '$`"\\':
                            word.append(nxt)
                        elif nxt != "\n":
                            word.append("\\" + nxt)
                        i += 2
                    else:
                        word.append(c)
                        i += 1
            elif c == "\\":
                if i + 1 >= n:
                    return None
                if text[i + 1] != "\n":
                    word.append(text[i + 1])
                i += 2
            else:
                word.append(c)
                i += 1
        words.append("".join(word))
    return words


_UNQUOTED, _SINGLE, _DOUBLE = 1, 2, 4
_BARE_PUNCTUATION = frozenset(b"+-./:@]_")


def _quote_token(token: str) -> str:
    data = token.encode("utf-8")
    if not data:
        return "''"
    out: list[str] = []
    while data:
        if data[0] == ord("^"):
            ok, i = _SINGLE, 1  # zsh history expansion: `^` only safe in single quotes
        else:
            ok, i = _UNQUOTED | _SINGLE | _DOUBLE, 0
        while i < len(data):
            b = data[i]
            cur = ok
            if b >= 0x80:
                cur &= ~_UNQUOTED
            else:
                if not (chr(b).isalnum() or b in _BARE_PUNCTUATION):
                    cur &= ~_UNQUOTED
                if b in b"'\\^":
                    cur &= ~_SINGLE
                if b in b"`$!^":
                    cur &= ~_DOUBLE
            if not cur:
                break
            ok = cur
            i += 1
        chunk, data = data[:i], data[i:]
        text = chunk.decode("utf-8", errors="surrogateescape")
        if ok & _UNQUOTED:
            out.append(text)
        elif ok & _SINGLE:
            out.append(f"'{text}'")
        else:
            escaped = "".join("\\" + c if c in '"\\$`' else c for c in text)
            out.append(f'"{escaped}"')
    return "".join(out)


def try_join(tokens: Iterable[str]) -> str | None:
    """Quote and join tokens as Rust's `shlex::try_join` does (``None`` when a
    token contains NUL, which no shell word can carry)."""
    tokens = list(tokens)
    if any("\0" in t for t in tokens):
        return None
    return " ".join(_quote_token(t) for t in tokens)


def render_command(tokens: Iterable[str]) -> str:
    """A command as the reference shows it in reasons: ``try_join``, or the
    tokens joined by spaces when one contains NUL."""
    tokens = list(tokens)
    joined = try_join(tokens)
    return " ".join(tokens) if joined is None else joined


def join_example(tokens: Iterable[str]) -> str:
    """An example as the reference renders it in example-check errors."""
    joined = try_join(tokens)
    return "unable to render example" if joined is None else joined


# Grapheme_Extend is Mn + Me + Other_Grapheme_Extend; the latter's spacing
# marks (Mc) and the half-width katakana sound marks (Lm) are not visible in
# `unicodedata`, so they are listed here as the reference (Unicode 17) has them.
_OTHER_GRAPHEME_EXTEND = frozenset(map(chr, (
    0x09BE, 0x09D7, 0x0B3E, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC0, 0x0CC2, 0x0CC7, 0x0CC8,
    0x0CCA, 0x0CCB, 0x0CD5, 0x0CD6, 0x0D3E, 0x0D57, 0x0DCF, 0x0DDF, 0x1715, 0x1734,
    0x1B35, 0x1B3B, 0x1B3D, 0x1B43, 0x1B44, 0x1BAA, 0x1BF2, 0x1BF3, 0x200C, 0x200D,
    0x302E, 0x302F, 0xA953, 0xA9C0, 0xFF9E, 0xFF9F, 0x111C0, 0x11235, 0x1133E,
    0x1134D, 0x11357, 0x114B0, 0x114BD, 0x115AF, 0x116B6, 0x11930, 0x1193D, 0x16FF0,
    0x16FF1, 0x1D165, 0x1D166, *range(0x1D16D, 0x1D173),
)))
# Mn in older Unicode data but a printable spacing mark in the reference's.
_NOT_GRAPHEME_EXTEND = frozenset("\U0001171e")


def _needs_unicode_escape(c: str) -> bool:
    category = unicodedata.category(c)
    if c in _OTHER_GRAPHEME_EXTEND:
        return True
    if category in ("Mn", "Me"):  # grapheme extenders
        return c not in _NOT_GRAPHEME_EXTEND
    if c == " ":
        return False
    return category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")


_DEBUG_ESCAPES = {"\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", '"': '\\"', "\0": "\\0"}


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (from bytes that were not
    UTF-8), which no UTF-8 output can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def rust_debug_str(text: str) -> str:
    """Rust's ``Debug`` rendering of a string, quotes included."""
    out = ['"']
    for c in text:
        esc = _DEBUG_ESCAPES.get(c)
        if esc is not None:
            out.append(esc)
        elif c.isascii() and c.isprintable():
            out.append(c)
        elif _needs_unicode_escape(c):
            out.append(f"\\u{{{ord(c):x}}}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def rust_debug_list(items: Iterable[str]) -> str:
    """``Debug`` of a ``Vec<String>``."""
    return "[" + ", ".join(rust_debug_str(s) for s in items) + "]"


def _debug_option(value: str | None, wrap: str = "") -> str:
    if value is None:
        return "None"
    inner = rust_debug_str(value)
    return f"Some({wrap}({inner}))" if wrap else f"Some({inner})"


def _debug_token(token: PatternToken) -> str:
    if isinstance(token, str):
        return f"Single({rust_debug_str(token)})"
    return f"Alts({rust_debug_list(token)})"


def debug_rule(rule: PrefixRule) -> str:
    """``Debug`` of the reference's ``PrefixRule``."""
    rest = ", ".join(_debug_token(t) for t in rule.rest)
    pattern = (
        f"PrefixPattern {{ canonical_matching: {str(rule.canonical_matching).lower()}, "
        f"first: {rust_debug_str(rule.program)}, rest: [{rest}] }}"
    )
    return (
        f"PrefixRule {{ pattern: {pattern}, decision: {rule.decision.debug_name()}, "
        f"justification: {_debug_option(rule.justification)} }}"
    )


def debug_match(match: RuleMatch) -> str:
    """``Debug`` of the reference's ``PrefixRuleMatch``."""
    return (
        f"PrefixRuleMatch {{ matched_prefix: {rust_debug_list(match.matched_prefix)}, "
        f"decision: {match.decision.debug_name()}, "
        f"resolved_program: {_debug_option(match.resolved_program, 'AbsolutePathBuf')}, "
        f"justification: {_debug_option(match.justification)} }}"
    )
