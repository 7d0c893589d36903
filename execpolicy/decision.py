"""Decisions a rule can carry, ordered from least to most strict."""

from __future__ import annotations

from .choice import Choice
from .error import PolicyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import ClassVar


class Decision(Choice):
    """What a matching rule says about a command: ``allow``, ``prompt`` or
    ``forbidden``.

    Ordered ``allow < prompt < forbidden``: when several rules match, the
    strictest one decides.
    """

    __slots__ = ()
    ALLOW: ClassVar[Decision]
    PROMPT: ClassVar[Decision]
    FORBIDDEN: ClassVar[Decision]

    @property
    def strictness(self) -> int:
        return _STRICTNESS[self]

    @classmethod
    def parse(cls, raw: str) -> Decision:
        """Parse a `prefix_rule` decision: exactly ``allow``, ``prompt`` or ``forbidden``."""
        try:
            return cls(raw)
        except ValueError:
            raise PolicyError(f"invalid decision: {raw}") from None

    @classmethod
    def parse_network(cls, raw: str) -> Decision:
        """Parse a `network_rule` decision, where ``deny`` is an alias of ``forbidden``."""
        if raw == "deny":
            return cls.FORBIDDEN
        return cls.parse(raw)

    def debug_name(self) -> str:
        """The Rust `Debug` spelling used in the reference's error texts."""
        return self.value.capitalize()


Decision.ALLOW = Decision._define("allow")
Decision.PROMPT = Decision._define("prompt")
Decision.FORBIDDEN = Decision._define("forbidden")

_STRICTNESS = {Decision.ALLOW: 0, Decision.PROMPT: 1, Decision.FORBIDDEN: 2}


def strictest(decisions: list[Decision]) -> Decision | None:
    """The strictest decision of several, or ``None`` when there are none."""
    if not decisions:
        return None
    return max(decisions, key=_STRICTNESS.__getitem__)
