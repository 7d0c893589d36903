"""What the full script analysis knows about one shell word.

A word either has a value known from the script alone (``text``: quotes and
escapes removed) or is *dynamic*: its value is only known at run time
(parameter or command substitution, a glob, a brace expansion, ``~``). Of a
dynamic word we keep what every value it can take must start with
(``prefix``), and whether it always becomes exactly one argument
(``single``; an unquoted ``$x`` can become none or several, a glob several).

Policy rules only ever match known values; the argument grammars
(`execpolicy.arg_limits`) ask of a dynamic word whether it may be an option.
"""

from __future__ import annotations

from .value import Value

_set = object.__setattr__


class Word(Value):
    """One word of a command: its value if known, else its known prefix."""

    __slots__ = ("text", "prefix", "single", "source")
    text: str | None
    prefix: str
    single: bool
    source: str

    def __init__(self, text: str | None, *, prefix: str = "", single: bool = True,
                 source: str | None = None) -> None:
        _set(self, "text", text)
        _set(self, "prefix", text if text is not None else prefix)
        _set(self, "single", True if text is not None else single)
        _set(self, "source", source if source is not None else (text or ""))

    @classmethod
    def dynamic(cls, source: str, *, prefix: str = "", single: bool = False) -> Word:
        return cls(None, prefix=prefix, single=single, source=source)

    @property
    def is_literal(self) -> bool:
        return self.text is not None

    def may_be_option(self) -> bool:
        """Whether a value of this word (any of them, if it becomes several)
        may start with ``-`` and so be read as an option."""
        if self.text is not None:
            return self.text.startswith("-")
        return not self.prefix or self.prefix.startswith("-")

    def may_equal(self, text: str) -> bool:
        """Whether this word can take the value ``text``."""
        if self.text is not None:
            return self.text == text
        return text.startswith(self.prefix)

    def __repr__(self) -> str:
        if self.text is not None:
            return f"Word({self.text!r})"
        return f"Word.dynamic({self.source!r}, prefix={self.prefix!r}, single={self.single})"


def literal_argv(words: list[Word]) -> list[str] | None:
    """The argv when every word is known, else ``None``."""
    texts = []
    for word in words:
        if word.text is None:
            return None
        texts.append(word.text)
    return texts


def literal_prefix(words: list[Word]) -> list[str]:
    """The known words before the first dynamic one."""
    texts = []
    for word in words:
        if word.text is None:
            break
        texts.append(word.text)
    return texts
