"""QR codes drawn by the node itself as inline SVG: no image service, works offline."""

import qrcode
import qrcode.image.svg
from markupsafe import Markup


def qr_svg(text: str, title: str) -> Markup:
    """`text` as an SVG QR code, its accessible name `title`."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    svg = image.to_string(encoding="unicode")
    # qrcode's writer draws paths only (no text of ours inside); named for screen readers.
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{Markup.escape(title)}" ', 1))
