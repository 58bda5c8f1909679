"""The Guacamole codec: lengths in code points, instructions split across reads, bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pamnode.sessions.guacamole.handshake import Display
from pamnode.sessions.guacamole.protocol import (
    MAX_ELEMENT_CHARS,
    Instruction,
    ProtocolError,
    Scanner,
    encode,
    parse,
)

elements = st.text(max_size=40)


def test_lengths_count_code_points_not_bytes():
    assert encode("name", "zürich", "😀;,") == "4.name,6.zürich,3.😀;,;"
    assert parse("4.name,6.zürich,3.😀;,;") == [Instruction("name", ("zürich", "😀;,"))]


@given(st.lists(st.tuples(elements, st.lists(elements, max_size=5)), max_size=6), st.data())
def test_any_split_of_a_stream_gives_back_the_same_instructions(items, data):
    text = "".join(encode(opcode, *args) for opcode, args in items)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
    scanner = Scanner()
    found: list[Instruction] = []
    for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True):
        scanner.feed(text[start:end])
        found.extend(scanner.take())
    assert found == [Instruction(opcode, tuple(args)) for opcode, args in items]
    assert scanner.rest() == ""


def test_a_half_received_instruction_waits_and_rest_keeps_it():
    scanner = Scanner()
    scanner.feed("4.sync,3.123;5.mou")
    assert scanner.take_text() == "4.sync,3.123;"
    assert scanner.rest() == "5.mou"
    scanner.feed("se,1.1;")
    assert scanner.take() == [Instruction("mouse", ("1",))]


@pytest.mark.parametrize(
    "text",
    ["x.sync;", "4.sync:", "-1.a;", "99999999.a", f"{MAX_ELEMENT_CHARS + 1}.a"],
)
def test_malformed_streams_are_refused(text):
    with pytest.raises(ProtocolError):
        Scanner().feed(text)


def test_display_from_browser_data_is_clamped():
    shown = Display.of({"width": "100000", "height": "1", "dpi": "abc", "timezone": "Europe/Paris"})
    assert (shown.width, shown.height, shown.dpi, shown.timezone) == (8192, 64, 96, "Europe/Paris")
    assert Display.of(("800", "600", "120", "")) == Display(800, 600, 120, "")
