"""Output bytes to response text (`runtimes.decode`): the reference's
observed cases (spec §6) and the documented approximation of its charset
guess."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execguard.runtimes.decode import bytes_to_text


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", ""),
        (b"plain ascii\n", "plain ascii\n"),
        ("héllo wörld ✓\n".encode(), "héllo wörld ✓\n"),
        # observed on the reference
        (b"caf\xe9 na\xefve", "café naïve"),
        (b"\xff\xfeabc", "\ufffd\ufffdabc"),
        (b"a\x00b\x00c", "a\x00b\x00c"),
        # BOMs select their encoding (encoding_rs sniffs them)
        (b"\xff\xfeh\x00i\x00", "hi"),
        (b"\xfe\xff\x00h\x00i", "hi"),
        (b"\xef\xbb\xbfok\xff", "\ufeffok\ufffd"),
        # windows-1252 punctuation
        (b"\x93quoted\x94 \x96 dash \x80", "\u201cquoted\u201d \u2013 dash \u20ac"),
        # ANSI colours around Latin-1 text still read as text
        (b"\x1b[31mr\xe9sum\xe9\x1b[0m\r\n", "\x1b[31mrésumé\x1b[0m\r\n"),
        # an undefined windows-1252 byte: lossy UTF-8
        (b"ab\x81cd", "ab\ufffdcd"),
        # binary-looking (many control bytes): lossy UTF-8
        (b"\x00\x01\x02\xe9\x03\x04", "\x00\x01\x02\ufffd\x03\x04"),
    ],
)
def test_examples(data: bytes, text: str) -> None:
    assert bytes_to_text(data) == text


def test_cap_splitting_utf8_differs_from_reference_as_documented() -> None:
    # The reference (chardetng) says "hĂ"; the windows-1252 guess says "hÃ".
    assert bytes_to_text(b"h\xc3") == "h\u00c3"


@given(st.text())
def test_valid_utf8_round_trips(text: str) -> None:
    assert bytes_to_text(text.encode()) == text


@given(st.binary())
def test_never_raises_and_keeps_ascii(data: bytes) -> None:
    text = bytes_to_text(data)
    assert isinstance(text, str)
    if data.isascii():
        assert text == data.decode("ascii")
