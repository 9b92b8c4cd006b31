"""Generated photos (with EXIF place and time if asked) and tiny videos (with the place and time
phones write into MP4 and WebM containers): for tests, the demo and benchmarks."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime
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


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _hdlr(handler: bytes) -> bytes:
    return _box(b"hdlr", bytes(8) + handler + bytes(12) + b"\0")


def _trak(handler: bytes, width: int, height: int, stbl: bytes = b"") -> bytes:
    tkhd = _box(b"tkhd", b"\0\0\0\x03" + bytes(76) + struct.pack(">II", width << 16, height << 16))
    minf = _box(b"minf", _box(b"stbl", stbl)) if stbl else b""
    return _box(b"trak", tkhd + _box(b"mdia", _hdlr(handler) + minf))


def mp4(duration_s: float = 5.0, lon: float | None = None, lat: float | None = None,
        taken: datetime | None = None, width: int = 640, height: int = 360, brand: bytes = b"mp42",
        apple: bool = False, gps_track: bool = False, audio_only: bool = False, padding: int = 0) -> bytes:
    """A tiny MP4/QuickTime file as phones write it: `ftyp`, `mdat`, then `moov` with `mvhd`
    (creation time `taken`, UTC), a video track, and the place as `udta/©xyz` (or, with
    `apple`, as the `com.apple.quicktime.location.ISO6709` key); with `gps_track` also a
    timed-metadata track whose one sample is the place (as drones write it). No real frames;
    `padding` bytes of media data make it as large as a real clip."""
    ftyp = _box(b"ftyp", brand + b"\0\0\0\0" + brand + b"isom")
    place = (f"{lat:+08.4f}{lon:+09.4f}/".encode() if lon is not None and lat is not None else b"")
    frames = b"\x00\x00\x00\x10" + b"frame-data-here!" * 4
    sample = b"GPS " + (place or b"+00.0000+000.0000/")
    mdat = _box(b"mdat", frames + (sample if gps_track else b"") + bytes(padding))
    sample_at = len(ftyp) + 8 + len(frames)
    epoch = datetime(1904, 1, 1, tzinfo=UTC)
    created = int((taken.astimezone(UTC) - epoch).total_seconds()) if taken is not None else 0
    mvhd = _box(b"mvhd", b"\0\0\0\0" + struct.pack(">IIII", created, created, 1000, int(duration_s * 1000))
                + bytes(80))
    traks = _trak(b"soun" if audio_only else b"vide", 0 if audio_only else width, 0 if audio_only else height)
    if gps_track:
        stbl = (_box(b"stsz", bytes(4) + struct.pack(">III", 0, 1, len(sample)))
                + _box(b"stsc", bytes(4) + struct.pack(">IIII", 1, 1, 1, 1))
                + _box(b"stco", bytes(4) + struct.pack(">II", 1, sample_at)))
        traks += _trak(b"meta", 0, 0, stbl)
    udta = b""
    if place and not apple:
        udta = _box(b"udta", _box(b"\xa9xyz", struct.pack(">HH", len(place), 0x15C7) + place)
                    + _box(b"\xa9mak", struct.pack(">HH", 13, 0x15C7) + b"cityops-phone"))
    meta = b""
    if place and apple:
        key = b"com.apple.quicktime.location.ISO6709"
        keys = _box(b"keys", bytes(4) + struct.pack(">I", 1) + _box(b"mdta", key))
        ilst = _box(b"ilst", _box(struct.pack(">I", 1), _box(b"data", struct.pack(">II", 1, 0) + place)))
        meta = _box(b"meta", _hdlr(b"mdta") + keys + ilst)
    return ftyp + mdat + _box(b"moov", mvhd + traks + udta + meta)


def _el(ident: int, body: bytes, unknown: bool = False) -> bytes:
    size = b"\x01\xff\xff\xff\xff\xff\xff\xff" if unknown else (0x01 << 56 | len(body)).to_bytes(8, "big")
    return ident.to_bytes((ident.bit_length() + 7) // 8, "big") + size + body


def webm(duration_s: float | None = 5.0, taken: datetime | None = None, width: int = 640, height: int = 360,
         live: bool = False, tag: str = "", doctype: bytes = b"webm") -> bytes:
    """A tiny WebM file: EBML header, Segment with Info (Duration unless None, DateUTC from
    `taken`), a video track, optional Tags (`tag` as a simple tag's value) and two clusters
    (at 0 and 4 s). `live`: unknown-size Segment and clusters as MediaRecorder writes them."""
    header = _el(0x1A45DFA3, _el(0x4286, b"\x01") + _el(0x4282, doctype))
    info = _el(0x2AD7B1, (1_000_000).to_bytes(3, "big"))
    if duration_s is not None:
        info += _el(0x4489, struct.pack(">d", duration_s * 1000))
    if taken is not None:
        ns = int((taken.astimezone(UTC) - datetime(2001, 1, 1, tzinfo=UTC)).total_seconds() * 1e9)
        info += _el(0x4461, struct.pack(">q", ns))
    video = _el(0xE0, _el(0xB0, width.to_bytes(2, "big")) + _el(0xBA, height.to_bytes(2, "big")))
    tracks = _el(0x1654AE6B, _el(0xAE, _el(0xD7, b"\x01") + _el(0x83, b"\x01") + video))
    tags = _el(0x1254C367, _el(0x7373, _el(0x67C8, _el(0x45A3, b"LOCATION") + _el(0x4487, tag.encode()))))
    clusters = b"".join(_el(0x1F43B675, _el(0xE7, t.to_bytes(2, "big")) + _el(0xA3, b"\x81\x00\x00\x80" + bytes(16)),
                            unknown=live) for t in (0, 4000))
    body = _el(0x1549A966, info) + tracks + (tags if tag else b"") + clusters
    return header + _el(0x18538067, body, unknown=live)
