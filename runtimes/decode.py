"""Command output bytes to the text a buffered ``command/exec`` response
carries, approximating the reference's ``bytes_to_string_smart``.

The reference: valid UTF-8 is returned as is; otherwise chardetng guesses a
legacy encoding and encoding_rs decodes with it, falling back to lossy
UTF-8 (U+FFFD) when that decode reports errors. encoding_rs's ``decode``
also sniffs a byte-order mark first, which is why ``\\xFF\\xFEabc`` (a
UTF-16LE BOM and an odd number of bytes after it) comes back as
``\\uFFFD\\uFFFDabc`` rather than as windows-1252 ``ÿþabc``.

chardetng has no Python counterpart, so the guess here is deliberately
simple and documented:

1. a BOM (UTF-8, UTF-16LE, UTF-16BE) selects that encoding; a decode error
   means lossy UTF-8, as in the reference;
2. otherwise windows-1252 (the web's Western default, chardetng's usual
   answer for Latin text) when the bytes decode strictly (none of the five
   undefined bytes 0x81, 0x8D, 0x8F, 0x90, 0x9D) and look like text: at most
   one character in twenty is a control character other than tab, newline,
   carriage return, form feed, vertical tab, backspace, bell and escape;
3. otherwise lossy UTF-8.

Known differences: chardetng can pick other single-byte encodings
(Central European, Cyrillic, ...) from letter statistics; this module only
ever picks windows-1252. Example from the reference: a cap that splits
``hé``'s UTF-8 (``h\\xC3``) decodes to ``hĂ`` there (windows-1250) and to
``hÃ`` here. encoding_rs also never fails on windows-1252 (its undefined
bytes map to C1 controls), so for binary-looking output the reference
returns mojibake where this module returns U+FFFD replacements.
"""

from __future__ import annotations

__all__ = ["bytes_to_text"]

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# Control characters that ordinary terminal text contains.
_TEXT_CONTROLS = frozenset("\t\n\r\f\v\b\a\x1b")


def _looks_like_text(text: str) -> bool:
    controls = sum(1 for ch in text if (ch < " " or ch == "\x7f") and ch not in _TEXT_CONTROLS)
    return controls * 20 <= len(text)


def bytes_to_text(data: bytes) -> str:
    """Decode output bytes: UTF-8 if valid, else a BOM's encoding, else
    windows-1252 when plausible, else lossy UTF-8 (see the module notes)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                return data.decode("utf-8", errors="replace")
    try:
        legacy = data.decode("cp1252")
    except UnicodeDecodeError:
        legacy = None
    if legacy is not None and _looks_like_text(legacy):
        return legacy
    return data.decode("utf-8", errors="replace")
