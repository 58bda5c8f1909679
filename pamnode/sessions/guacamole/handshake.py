"""The client side of guacd's handshake: select, args, the client's display, connect, ready.

guacd answers `select` with `args`, whose first element is its protocol version (guacd 1.3
sends `VERSION_1_3_0`) and the rest the names of the connection's parameters; `connect` gives
the values in that order, the version first. pamnode sends no audio or video types: sessions
are drawn, not heard.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from pamnode.sessions.guacamole.protocol import encode
from pamnode.sessions.guacamole.stream import GuacStream

# Image types every browser draws; guacd picks among them.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
# Guacamole status codes pamnode itself sends (the rest come from guacd).
UPSTREAM_ERROR = 0x0203
UNAUTHORIZED = 0x0301


class GuacdRefused(Exception):
    """guacd answered the handshake with `error` (or something else than it should)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Display:
    width: int = 1024
    height: int = 768
    dpi: int = 96
    timezone: str = ""

    def args(self) -> tuple[str, ...]:
        return (str(self.width), str(self.height), str(self.dpi), self.timezone)

    @classmethod
    def of(cls, values: Mapping[str, str] | tuple[str, ...]) -> "Display":
        """From a browser's connect data (width=…) or a front's ticket arguments, clamped."""
        if isinstance(values, tuple):
            values = dict(zip(("width", "height", "dpi", "timezone"), values, strict=False))

        def number(name: str, default: int, low: int, high: int) -> int:
            text = values.get(name, "")
            return min(max(int(text), low), high) if text.isdigit() else default

        return cls(
            width=number("width", cls.width, 64, 8192),
            height=number("height", cls.height, 64, 8192),
            dpi=number("dpi", cls.dpi, 48, 600),
            timezone=values.get("timezone", "")[:64],
        )


async def handshake(
    stream: GuacStream, protocol: str, params: Mapping[str, str], display: Display
) -> str:
    """Open a connection on guacd; return its id once guacd says `ready`."""
    await stream.send(encode("select", protocol))
    args = await _expect(stream, "args")
    await stream.send(
        encode("size", str(display.width), str(display.height), str(display.dpi))
        + encode("audio")
        + encode("video")
        + encode("image", *IMAGE_TYPES)
        + (encode("timezone", display.timezone) if display.timezone else "")
    )
    values = [params.get(name, "") for name in args]
    if args and args[0].startswith("VERSION_"):
        # Answer with guacd's own version: this relay speaks what guacd speaks.
        values[0] = args[0]
    await stream.send(encode("connect", *values))
    ready = await _expect(stream, "ready")
    return ready[0] if ready else ""


async def _expect(stream: GuacStream, opcode: str) -> tuple[str, ...]:
    instruction = await stream.read_instruction()
    if instruction.opcode == "error":
        message = instruction.args[0] if instruction.args else "guacd refused the connection"
        status = instruction.args[1] if len(instruction.args) > 1 else ""
        raise GuacdRefused(message, int(status) if status.isdigit() else UPSTREAM_ERROR)
    if instruction.opcode != opcode:
        raise GuacdRefused(
            f"guacd answered '{instruction.opcode}' where '{opcode}' was due", UPSTREAM_ERROR
        )
    return instruction.args
