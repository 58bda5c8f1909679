"""Guacamole instructions: `LEN.VALUE,LEN.VALUE,...;` where LEN counts Unicode code points.

Python's `len(str)` counts code points too, so the codec works on decoded text. `Scanner`
splits a stream of text into whole instructions without parsing their values (what a relay
needs), and parses them when asked (what a handshake and a filter need).
"""

from dataclasses import dataclass

# Bounds that keep a hostile peer from making us buffer without end. guacd's own largest
# elements are image blobs of a few KiB; `args` of RDP lists about a hundred names.
MAX_ELEMENT_CHARS = 65536
MAX_ELEMENTS = 512
_MAX_LENGTH_DIGITS = len(str(MAX_ELEMENT_CHARS))


class ProtocolError(ValueError):
    """Text that is not a Guacamole instruction stream."""


@dataclass(frozen=True)
class Instruction:
    opcode: str
    args: tuple[str, ...] = ()

    def encode(self) -> str:
        return encode(self.opcode, *self.args)


def _element(value: str) -> str:
    return f"{len(value)}.{value}"


def encode(opcode: str, *args: str) -> str:
    return ",".join(_element(part) for part in (opcode, *args)) + ";"


class Scanner:
    """Collects text and hands back whole instructions; a half-received one waits for more."""

    def __init__(self) -> None:
        self._buffer = ""
        # Where the next whole instruction ends, once found, and how far scanning has come.
        self._complete = 0
        self._cursor = 0
        self._elements = 0

    def feed(self, text: str) -> None:
        self._buffer += text
        self._scan()

    def _scan(self) -> None:
        buffer = self._buffer
        while True:
            dot = buffer.find(".", self._cursor, self._cursor + _MAX_LENGTH_DIGITS + 1)
            if dot < 0:
                if len(buffer) - self._cursor > _MAX_LENGTH_DIGITS:
                    raise ProtocolError("an element length is missing or too long")
                return
            digits = buffer[self._cursor : dot]
            if not digits.isdigit() or not digits.isascii():
                raise ProtocolError(f"bad element length {digits!r}")
            length = int(digits)
            if length > MAX_ELEMENT_CHARS:
                raise ProtocolError(f"an element of {length} characters is too long")
            end = dot + 1 + length
            if end >= len(buffer):
                return
            self._elements += 1
            if self._elements > MAX_ELEMENTS:
                raise ProtocolError("an instruction has too many elements")
            terminator = buffer[end]
            self._cursor = end + 1
            if terminator == ";":
                self._complete = self._cursor
                self._elements = 0
            elif terminator != ",":
                raise ProtocolError(f"expected ',' or ';' after an element, got {terminator!r}")

    def take_text(self) -> str:
        """The whole instructions received so far, as text, removed from the buffer."""
        done, self._buffer = self._buffer[: self._complete], self._buffer[self._complete :]
        self._cursor -= self._complete
        self._complete = 0
        return done

    def take(self) -> list[Instruction]:
        return parse(self.take_text())

    def rest(self) -> str:
        """What is left after the whole instructions: the start of the next one."""
        return self._buffer[self._complete :]


def parse(text: str) -> list[Instruction]:
    """Whole instructions from text that holds nothing else (e.g. from `Scanner.take_text`)."""
    found: list[Instruction] = []
    elements: list[str] = []
    position = 0
    while position < len(text):
        dot = text.index(".", position)
        end = dot + 1 + int(text[position:dot])
        elements.append(text[dot + 1 : end])
        if text[end] == ";":
            found.append(Instruction(elements[0], tuple(elements[1:])))
            elements = []
        position = end + 1
    if elements:
        raise ProtocolError("text ends inside an instruction")
    return found
