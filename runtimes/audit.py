"""The audit log: one JSON object per line for every decision, question,
answer, amendment and run of the shell tool flow (`runtimes.shell_tool`).

Opt-in and append-only. Each line is written with one ``write(2)`` on a
file opened with ``O_APPEND``, so lines from several processes sharing a
log never interleave. Every record carries ``ts`` (UTC, ISO 8601 with
milliseconds) first. A command's output is left out (``stdout``/``stderr``
of ``runEnded`` records) unless ``include_output`` is set: logs outlive
sessions, and output holds whatever the command printed, secrets included.

The file is created ``0600``. A log that cannot be written is reported once
on the ``execguard`` logger and then ignored: auditing never stops a call.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime
from typing import Any

__all__ = ["OUTPUT_FIELDS", "AuditLog", "AuditLogError"]

log = logging.getLogger(__name__)

# The fields of a record that hold command output.
OUTPUT_FIELDS = ("stdout", "stderr")


class AuditLogError(Exception):
    """The log cannot be opened; the message names the path and the reason."""


class AuditLog:
    """Append records to ``path`` (created when missing, parent included);
    raises :class:`AuditLogError` when it cannot be opened."""

    def __init__(self, path: str | os.PathLike[str], *, include_output: bool = False) -> None:
        self.path = os.fspath(path)
        self.include_output = include_output
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._failed = False
        # Open now: a path that cannot be written is the caller's error to see.
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self._fd = os.open(self.path,
                               os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise AuditLogError(f"cannot open the audit log {self.path}: "
                                f"{error.strerror or error}") from None

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (output fields dropped unless wanted)."""
        line: dict[str, Any] = {"ts": _now()}
        for key, value in record.items():
            if key in OUTPUT_FIELDS and not self.include_output:
                continue
            line[key] = value
        data = (json.dumps(line, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        with self._lock:
            fd = self._fd
            if fd is None:
                return
            try:
                written = os.write(fd, data)
                if written != len(data):  # a full disk: finish the line if we can
                    os.write(fd, data[written:])
            except OSError as error:
                if not self._failed:
                    self._failed = True
                    log.warning("audit log %s: cannot write: %s", self.path, error)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
