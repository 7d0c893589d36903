"""Immutable value objects without `dataclasses`.

`dataclasses` imports `inspect`, which costs the short-lived `execguard
execpolicy check` process ~10 ms, most of its budget. Value classes list
their fields in ``__slots__`` and set them once in ``__init__`` with
``object.__setattr__``; equality, hashing and ``repr`` come from the fields
in order (``repr`` leaves out derived fields, named with a leading ``_``).
"""

from __future__ import annotations

_set = object.__setattr__


class Value:
    __slots__: tuple[str, ...] = ()

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__
                          if not name.startswith("_"))
        return f"{type(self).__name__}({shown})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self) -> tuple[object, ...]:
        return (_restore, (type(self), self._fields()))


def _restore(cls: type[Value], fields: tuple[object, ...]) -> Value:
    instance = object.__new__(cls)
    for name, value in zip(cls.__slots__, fields, strict=True):
        _set(instance, name, value)
    return instance
