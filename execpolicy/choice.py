"""Closed sets of named strings (what `enum.StrEnum` gives) without `enum`.

Importing `enum` (with `functools` and `collections`) costs the short-lived
`execguard execpolicy check` process ~4 ms. A :class:`Choice` member is a
``str`` singleton: it compares, hashes and serialises as its value, ``is``
works between members, and pydantic validates it from its value.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, Self


class Choice(str):
    __slots__ = ()
    _members: ClassVar[dict[str, Any]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._members = {}

    def __new__(cls, value: str) -> Self:
        member = cls._members.get(value) if isinstance(value, str) else None
        if member is None:
            raise ValueError(f"{value!r} is not a valid {cls.__name__}")
        return member  # type: ignore[no-any-return]

    @classmethod
    def _define(cls, value: str) -> Self:
        member = str.__new__(cls, value)
        cls._members[value] = member
        return member

    @classmethod
    def members(cls) -> tuple[Self, ...]:
        """Every member, in definition order."""
        return tuple(cls._members.values())

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def name(self) -> str:
        return self.value.upper()

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"<{type(self).__name__}.{self.name}: {self.value!r}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.value,))

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: object) -> Self:
        return self

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.literal_schema(list(cls._members)),
            serialization=core_schema.to_string_ser_schema(),
        )
