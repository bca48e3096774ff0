"""Scannable images of a coupon code for the cashier: a QR code and a Code 128 barcode, as inline SVG."""

from __future__ import annotations

import re

import barcode
import segno
from barcode.writer import SVGWriter
from markupsafe import Markup

# Barcode sizes in millimetres, as python-barcode's SVG writer takes them.
_BARCODE_OPTIONS = {"write_text": False, "module_width": 0.5, "module_height": 18.0, "quiet_zone": 3.0}
_SVG_SIZE = re.compile(r'<svg([^>]*) width="([0-9.]+)mm" height="([0-9.]+)mm"')
_USER_UNITS_PER_MM = 96 / 25.4


def qr_code_svg(code: str) -> Markup:
    """Return an inline SVG QR code of ``code``; a full QR code, not Micro QR, which fewer scanners read."""
    svg = segno.make_qr(code, error="m").svg_inline(scale=6, border=2, title="QR code")
    return Markup(svg)


def barcode_svg(code: str) -> Markup:
    """Return an inline SVG Code 128 barcode of ``code`` (printable ASCII), without the text line.

    The page prints the code itself, escaped by the template, so the SVG carries only bars.
    """
    rendered = barcode.get("code128", code, writer=SVGWriter()).render(writer_options=_BARCODE_OPTIONS)
    svg = rendered.decode("utf-8")

    # Inline SVG in HTML must not carry the XML declaration and DOCTYPE of a standalone file.
    svg = svg[svg.index("<svg") :]

    # A viewBox lets CSS shrink a long code's barcode to the screen instead of clipping it.
    return Markup(_SVG_SIZE.sub(_add_view_box, svg, count=1))


def _add_view_box(match: re.Match[str]) -> str:
    width, height = float(match.group(2)), float(match.group(3))
    view_box = f"0 0 {width * _USER_UNITS_PER_MM:.3f} {height * _USER_UNITS_PER_MM:.3f}"
    return f'<svg{match.group(1)} width="{width}mm" height="{height}mm" viewBox="{view_box}"'

