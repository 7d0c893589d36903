"""Appending rules to a rules file, as Codex's amendments do (spec §8).

Two entry points write one line each::

    append_prefix_rule(path, ["git", "status"])
    # prefix_rule(pattern=["git", "status"], decision="allow")
    append_network_rule(path, "Api.Example.com:443", "https", "deny")
    # network_rule(host="api.example.com", protocol="https", decision="deny")

The line formats, validation and error messages are the reference's. The
writing is safer than the reference's in-place append:

* **Locking.** Writers serialise on an exclusive ``flock`` of a dedicated
  lock file beside the target (``<name>.lock``), held for the whole
  read-check-write. The lock file is never deleted (deleting it would let two
  writers lock different inodes). The target itself is flocked too while we
  work, so a Codex process appending in place (it flocks the rules file)
  waits for us and we wait for it.
* **Atomic replace.** The new content is written to a temporary file in the
  same directory (``.<name>.<random>.tmp``, which does not end in ``.rules``
  and is therefore never picked up by discovery), fsynced, given the original
  file's permission bits (and owner, where permitted), then renamed over the
  target with :func:`os.replace` and the directory fsynced. A reader sees the
  old file or the new one, never a partial line; a crash or a full disk
  leaves the original untouched. Temporary files left by a crashed writer are
  removed by the next writer (it holds the lock, so they cannot be live).
* **Symlinks.** The path is resolved (:func:`os.path.realpath`) and the real
  file is replaced, so a ``default.rules`` symlinked into a dotfiles
  repository stays a symlink and the repository gets the new rule. The lock
  file and the temporary file live beside the real file, so writers that name
  the file through different links still exclude each other.
* **Hard links.** A file with several hard links cannot be replaced without
  detaching the other names, so it is appended to in place (under the same
  locks, with one ``write`` and an fsync) instead.
* **Validation.** The line is parsed on its own with :class:`PolicyParser` and
  must give back exactly the rule that was asked for; then the whole amended
  file is evaluated, and if the file loaded before but would not load after,
  nothing is written. (A file that was already broken is still appended to,
  as the reference does: the new line cannot make it worse.)

Deduplication: like the reference, nothing is written when a line of the file
(split on ``\\n``, one trailing ``\\r`` removed) equals the new line. For
network rules order matters (for a host, the last allow/deny rule wins), so an
identical earlier line only counts when the file's last network rule for that
host is that same rule; otherwise the line is appended again so that it takes
effect.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from .decision import Decision
from .error import PolicyError
from .parser import PolicyParser
from .rule import NetworkProtocol, NetworkRule, normalize_network_host, rust_trim

if TYPE_CHECKING:
    from .policy import Policy


class AmendError(PolicyError):
    """A rule could not be appended to a rules file (invalid input or I/O)."""


# -- formatting -----------------------------------------------------------------


def _json_string(value: str, what: str) -> str:
    """``value`` as serde_json writes it (short escapes, other control characters
    as ``\\u00XX``, everything else raw UTF-8)."""
    import json

    if not isinstance(value, str):
        raise AmendError(f"{what}: expected a string (got {type(value).__name__})")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AmendError(f"{what}: {value!r} is not valid Unicode (lone surrogate)") from None
    return json.dumps(value, ensure_ascii=False)


def prefix_rule_line(tokens: Sequence[str]) -> str:
    """The line :func:`append_prefix_rule` writes for ``tokens``."""
    if isinstance(tokens, str):
        raise TypeError("tokens must be a sequence of strings, not a single string")
    tokens = list(tokens)
    if not tokens:
        raise AmendError("prefix rule requires at least one token")
    pattern = ", ".join(_json_string(t, "failed to format prefix tokens") for t in tokens)
    return f'prefix_rule(pattern=[{pattern}], decision="allow")'


def _network_rule(
    host: str,
    protocol: NetworkProtocol | str,
    decision: Decision | str,
    justification: str | None,
) -> NetworkRule:
    """Validate an amendment's network rule (errors wrapped as the reference's
    ``invalid network rule: ...``)."""
    try:
        normalized = normalize_network_host(host)
    except PolicyError as error:
        raise AmendError(f"invalid network rule: {error.message}") from None
    if justification is not None and not rust_trim(justification):
        raise AmendError("invalid network rule: justification cannot be empty")
    try:
        # The reference takes enums here; strings accept what `network_rule`
        # accepts (protocol aliases, `deny` for forbidden).
        parsed_protocol = NetworkProtocol.parse(
            protocol.value if isinstance(protocol, NetworkProtocol) else protocol)
        parsed_decision = Decision.parse_network(
            decision.value if isinstance(decision, Decision) else decision)
    except PolicyError as error:
        raise AmendError(f"invalid network rule: {error.message}") from None
    return NetworkRule(normalized, parsed_protocol, parsed_decision, justification)


def _network_line(rule: NetworkRule) -> str:
    what = "failed to serialize network rule field"
    written = "deny" if rule.decision is Decision.FORBIDDEN else rule.decision.value
    args = [
        f"host={_json_string(rule.host, what)}",
        f"protocol={_json_string(rule.protocol.value, what)}",
        f"decision={_json_string(written, what)}",
    ]
    if rule.justification is not None:
        args.append(f"justification={_json_string(rule.justification, what)}")
    return "network_rule(" + ", ".join(args) + ")"


def network_rule_line(
    host: str,
    protocol: NetworkProtocol | str,
    decision: Decision | str,
    justification: str | None = None,
) -> str:
    """The line :func:`append_network_rule` writes: host normalised, protocol in
    its canonical spelling, ``forbidden`` written as ``deny``."""
    return _network_line(_network_rule(host, protocol, decision, justification))


# -- public entry points --------------------------------------------------------


def append_prefix_rule(path: str | os.PathLike[str], tokens: Sequence[str]) -> bool:
    """Append ``prefix_rule(pattern=[...], decision="allow")`` for ``tokens``
    (each a single literal) to the rules file at ``path``.

    Returns ``True`` if the line was written, ``False`` if the file already had
    it. Raises :class:`AmendError`.
    """
    if isinstance(tokens, str):
        raise TypeError("tokens must be a sequence of strings, not a single string")
    tokens = list(tokens)
    line = prefix_rule_line(tokens)
    _check_line(line, lambda p: [[r.program, *r.rest] for r in p.rules] == [tokens]
                and p.rules[0].decision is Decision.ALLOW
                and p.rules[0].justification is None and not p.rules[0].canonical_matching)
    return _append_line(path, line, None)


def append_network_rule(
    path: str | os.PathLike[str],
    host: str,
    protocol: NetworkProtocol | str,
    decision: Decision | str,
    justification: str | None = None,
) -> bool:
    """Append a ``network_rule(...)`` line to the rules file at ``path``.

    The host is normalised as the `network_rule` builtin does
    (``Example.COM:443`` → ``example.com``), the protocol written in its
    canonical spelling and ``forbidden`` as ``deny``. Returns ``True`` if the
    line was written, ``False`` if the rule is already the file's last word on
    that host. Raises :class:`AmendError`.
    """
    rule = _network_rule(host, protocol, decision, justification)
    line = _network_line(rule)
    _check_line(line, lambda p: p.network_rules == [rule] and not p.rules)
    return _append_line(path, line, rule)


# -- validation -----------------------------------------------------------------


def _check_line(line: str, expected: Callable[[Policy], bool]) -> None:
    """The line must parse on its own and give back exactly the requested rule."""
    parser = PolicyParser()
    try:
        parser.parse("<amendment>", line)
    except PolicyError as error:  # pragma: no cover - would be a formatting bug
        raise AmendError(f"generated rule does not parse: {line}: {error.message}") from None
    if not expected(parser.policy):  # pragma: no cover - would be a formatting bug
        raise AmendError(f"generated rule does not round-trip: {line}")


def _evaluates(name: str, text: str) -> tuple[bool, list[NetworkRule], str]:
    """Whether ``text`` loads as a rules file; its network rules; the error."""
    parser = PolicyParser()
    try:
        parser.parse(name, text)
    except PolicyError as error:
        return False, [], str(error)
    return True, parser.policy.network_rules, ""


# -- writing --------------------------------------------------------------------


def _io(error: OSError) -> str:
    """An OS error the way Rust's `io::Error` displays it."""
    if error.errno is None:
        return str(error)
    text = error.strerror or os.strerror(error.errno)
    return f"{text} (os error {error.errno})"


def _has_line(contents: str, line: str) -> bool:
    """Rust `str::lines`: split on ``\\n``; a ``\\r`` before the ``\\n`` is dropped
    (a bare ``\\r`` ending the last line is kept)."""
    *ended, last = contents.split("\n")
    return last == line or any(
        (existing[:-1] if existing.endswith("\r") else existing) == line for existing in ended
    )


def _append_line(path: str | os.PathLike[str], line: str, network: NetworkRule | None) -> bool:
    shown = os.fspath(path)
    if not shown.strip("/"):
        raise AmendError(f"policy path has no parent: {shown}")
    parent = os.path.dirname(shown) or "."
    try:
        os.mkdir(parent)  # one level only, as the reference does
    except FileExistsError:
        pass
    except OSError as error:
        raise AmendError(f"failed to create policy directory {parent}: {_io(error)}") from None

    target = os.path.realpath(shown)
    with _exclusive_lock(shown, target + ".lock"):
        return _locked_append(shown, target, line, network)


@contextlib.contextmanager
def _exclusive_lock(shown: str, lock_path: str) -> Iterator[None]:
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        fd = os.open(lock_path, flags, 0o644)
    except PermissionError:
        # A lock file created by another user: a read-only descriptor locks as well.
        try:
            fd = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError as error:
            raise AmendError(f"failed to lock policy file {shown}: {_io(error)}") from None
    except OSError as error:
        raise AmendError(f"failed to lock policy file {shown}: {_io(error)}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as error:
            raise AmendError(f"failed to lock policy file {shown}: {_io(error)}") from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _locked_append(shown: str, target: str, line: str, network: NetworkRule | None) -> bool:
    fd: int | None
    try:
        # O_NONBLOCK: opening a FIFO must not hang; it is rejected below.
        fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        fd = None
    except OSError as error:
        raise AmendError(f"failed to open policy file {shown}: {_io(error)}") from None
    try:
        info: os.stat_result | None = None
        data = b""
        if fd is not None:
            try:
                info = os.fstat(fd)
            except OSError as error:
                raise AmendError(
                    f"failed to read metadata for policy file {shown}: {_io(error)}") from None
            if stat.S_ISDIR(info.st_mode):
                raise AmendError(
                    f"failed to open policy file {shown}: {os.strerror(errno.EISDIR)} "
                    f"(os error {errno.EISDIR})")
            if not stat.S_ISREG(info.st_mode):
                raise AmendError(f"failed to open policy file {shown}: not a regular file")
            try:
                # Codex appends in place under a flock of the file itself.
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as error:
                raise AmendError(f"failed to lock policy file {shown}: {_io(error)}") from None
            try:
                data = _read_all(fd)
            except OSError as error:
                raise AmendError(f"failed to read policy file {shown}: {_io(error)}") from None
        try:
            contents = data.decode("utf-8")
        except UnicodeDecodeError:
            raise AmendError(
                f"failed to read policy file {shown}: stream did not contain valid UTF-8"
            ) from None

        if _has_line(contents, line) and _already_in_effect(shown, contents, network):
            return False
        separator = "\n" if contents and not contents.endswith("\n") else ""
        addition = separator + line + "\n"
        amended = contents + addition

        loads_after, _, problem = _evaluates(shown, amended)
        if not loads_after and _evaluates(shown, contents)[0]:
            raise AmendError(
                f"refusing to write to policy file {shown}: the amended file would not load: "
                f"{problem}")

        directory = os.path.dirname(target)
        if info is not None and fd is not None and info.st_nlink > 1:
            _append_in_place(shown, target, addition)
        else:
            _replace_atomically(shown, target, directory, amended.encode("utf-8"), info)
        return True
    finally:
        if fd is not None:
            os.close(fd)


def _already_in_effect(shown: str, contents: str, network: NetworkRule | None) -> bool:
    """An identical line exists; is appending it again a no-op?"""
    if network is None:
        return True  # prefix rules: every match counts, order is irrelevant
    loads, rules, _ = _evaluates(shown, contents)
    if not loads:
        return True  # cannot tell; do what the reference does
    last = [r for r in rules if r.host == network.host]
    return bool(last) and last[-1] == network


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _temp_name(target: str) -> str:
    directory, name = os.path.split(target)
    return os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")


def _remove_stale_temps(target: str) -> None:
    """Temporary files of writers that died: we hold the lock, so none is live."""
    directory, name = os.path.split(target)
    pattern = re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{12}}\.tmp")
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            if pattern.fullmatch(entry.name):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _replace_atomically(shown: str, target: str, directory: str, data: bytes,
                        original: os.stat_result | None) -> None:
    _remove_stale_temps(target)
    # A new file gets 0666 minus the umask, like the reference's; an existing
    # one keeps its mode (set below, the temp file stays private meanwhile).
    mode = 0o600 if original is not None else 0o666
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    for _ in range(100):
        temp = _temp_name(target)
        try:
            fd = os.open(temp, flags, mode)
            break
        except FileExistsError:
            continue
        except OSError as error:
            raise AmendError(f"failed to write to policy file {shown}: {_io(error)}") from None
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise AmendError(f"failed to write to policy file {shown}: no free temporary name")
    try:
        try:
            _write_all(fd, data)
            if original is not None:
                _copy_owner(fd, original)
                os.fchmod(fd, stat.S_IMODE(original.st_mode))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(error, OSError):
            raise AmendError(f"failed to write to policy file {shown}: {_io(error)}") from None
        raise
    _fsync_directory(directory)


def _copy_owner(fd: int, original: os.stat_result) -> None:
    """Best effort: keep the file's owner and group (root amending a user's
    file, or a setgid directory); without the privilege, keep ours."""
    current = os.fstat(fd)
    if (current.st_uid, current.st_gid) != (original.st_uid, original.st_gid):
        with contextlib.suppress(OSError):
            os.fchown(fd, original.st_uid, original.st_gid)


def _append_in_place(shown: str, target: str, addition: str) -> None:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    except OSError as error:
        raise AmendError(f"failed to open policy file {shown}: {_io(error)}") from None
    try:
        _write_all(fd, addition.encode("utf-8"))
        os.fsync(fd)
    except OSError as error:
        raise AmendError(f"failed to write to policy file {shown}: {_io(error)}") from None
    finally:
        os.close(fd)


def _fsync_directory(directory: str) -> None:
    """Make the rename durable; not every filesystem supports it."""
    try:
        fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
