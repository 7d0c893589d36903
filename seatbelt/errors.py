"""The one error of this package."""

from __future__ import annotations

__all__ = ["SeatbeltError"]


class SeatbeltError(ValueError):
    """A profile cannot be generated for these inputs (a relative socket path,
    a path that is not UTF-8 or holds a NUL byte, a policy Seatbelt does not
    enforce). The message names the input and says why; the command must
    not run."""
