"""Generated photos (with EXIF place and time if asked): for tests, the demo and benchmarks."""

from __future__ import annotations

import io
from datetime import datetime
from fractions import Fraction

from PIL import Image, ImageDraw


def _dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    s = Fraction(round((value - d - m / 60) * 3600 * 1000), 1000)
    return Fraction(d), Fraction(m), s


def jpeg(width: int = 64, height: int = 48, color: tuple[int, int, int] = (90, 140, 60),
         lon: float | None = None, lat: float | None = None, taken: datetime | None = None,
         offset: str | None = None, fmt: str = "JPEG") -> bytes:
    """A small picture; with lon/lat an EXIF GPS block, with `taken` a DateTimeOriginal
    (local wall time as written by a phone) and `offset` its OffsetTimeOriginal."""
    img = Image.new("RGB", (width, height), color)
    ImageDraw.Draw(img).rectangle((width // 4, height // 4, width // 2, height // 2), fill=(200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "cityops-test"  # Make: a field that must be stripped too
    if taken is not None:
        sub = exif.get_ifd(0x8769)
        sub[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
        if offset:
            sub[0x9011] = offset
    if lon is not None and lat is not None:
        gps = exif.get_ifd(0x8825)
        gps[1] = "N" if lat >= 0 else "S"
        gps[2] = _dms(lat)
        gps[3] = "E" if lon >= 0 else "W"
        gps[4] = _dms(lon)
    out = io.BytesIO()
    img.save(out, fmt, exif=exif.tobytes())
    return out.getvalue()
