"""Short videos as values: sniff MP4/QuickTime and WebM from the bytes, read the duration, time
and place a phone wrote into the container, and blank the place before anyone else sees it.

No decoder is involved (no ffmpeg): the container's structure is walked, its boxes/elements must
tile the file exactly, and a video track must be declared. Nothing here touches storage or HTTP.

MP4/QuickTime (ISO BMFF): `moov/mvhd` gives the creation time (seconds since 1904, UTC) and the
duration; `tkhd` the picture size; the place is the `©xyz` atom phones write into `udta`
(ISO 6709, e.g. "+30.5928+114.3055/") or Apple's `com.apple.quicktime.location.ISO6709` key in
`moov/meta`. Stripping turns every metadata box into a `free` box of the same size with zeroed
content: `udta` and `meta`, every `©…` item (`©xyz` straight in `moov`, not only in `udta`),
`uuid` boxes (XMP, and vendors' own) and `XMP_` boxes, at the top level and anywhere in the
movie's containers. No offset in the file moves, so the sample tables stay valid and the video
plays as before, without its place, make or model.
Timed-metadata or subtitle tracks (drones write GPS there) are blanked too: the track's box
becomes `free` and its samples' bytes in `mdat` are zeroed.

WebM (Matroska): the EBML header's DocType must be `webm`; `Info` gives `Duration` (when the
recorder wrote it; otherwise the last cluster's time, a lower bound) and `DateUTC`. WebM has no
standard place field; `Tags` elements are overwritten by `Void` elements of the same length.
"""

from __future__ import annotations

import functools
import io
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from PIL import Image, ImageDraw

from cityops.field.images import CleanMedia, PhotoMeta, RefusedUpload, TooLarge

MAX_BYTES = 50 * 1024 * 1024  # the server's ceiling; a city may set a lower one
DEFAULT_MAX_BYTES = 30 * 1024 * 1024  # 30 s of 1080p from a phone is about 20–60 MB
DEFAULT_MAX_SECONDS = 60.0
MEDIA_TYPES = {"mp4": "video/mp4", "quicktime": "video/quicktime", "webm": "video/webm"}
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
_KEPT_HANDLERS = {b"vide", b"soun", b"tmcd"}  # picture, sound, timecode; others are blanked
_MP4_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)
_MKV_EPOCH = datetime(2001, 1, 1, tzinfo=UTC)
_ISO6709 = re.compile(rb"([+-]\d{1,2}(?:\.\d+)?)([+-]\d{1,3}(?:\.\d+)?)")
_APPLE_LOCATION = b"com.apple.quicktime.location.ISO6709"


@dataclass(frozen=True)
class VideoInfo:
    """What the container says (before stripping)."""

    container: str  # mp4 | quicktime | webm
    duration_s: float | None
    width: int
    height: int
    taken_at: datetime | None
    lon: float | None
    lat: float | None


def sniff(data: bytes) -> str | None:
    """`mp4`, `quicktime` or `webm` from the first bytes; None when it does not look like a video.
    HEIF/AVIF still images also start with `ftyp`: they are refused here with their own reason."""
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in _IMAGE_BRANDS:
            raise RefusedUpload("HEIC/AVIF pictures are not accepted; send a JPEG, PNG or WebP photo",
                                "不支持 HEIC/AVIF 图片，请上传 JPEG、PNG 或 WebP 照片")
        return "quicktime" if brand == b"qt  " else "mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    return None


def _refuse(why: str) -> RefusedUpload:
    return RefusedUpload(f"the video cannot be read: {why}", f"视频文件已损坏或无法读取（{why}）")


def process(data: bytes, kind: str, max_bytes: int = DEFAULT_MAX_BYTES,
            max_seconds: float = DEFAULT_MAX_SECONDS) -> CleanMedia:
    """Check, read and strip one video. Raises RefusedUpload / TooLarge."""
    limit = min(max_bytes, MAX_BYTES)
    if len(data) > limit:
        raise TooLarge(f"the video has {len(data)} bytes; at most {limit} are accepted",
                       f"视频过大（{len(data)} 字节），上限 {limit} 字节")
    buf = bytearray(data)
    try:
        info = _mp4(buf, kind) if kind in ("mp4", "quicktime") else _webm(buf)
    except (struct.error, OverflowError, ValueError, IndexError, RecursionError) as exc:
        raise _refuse(type(exc).__name__) from None
    if info.duration_s is not None and not (0 <= info.duration_s < 1e9):
        raise _refuse(f"a duration of {info.duration_s} s")
    if info.duration_s is not None and info.duration_s > max_seconds:
        raise RefusedUpload(f"the video lasts {info.duration_s:.1f} s; at most {max_seconds:g} s are accepted",
                            f"视频时长 {info.duration_s:.1f} 秒，超过上限 {max_seconds:g} 秒")
    meta = PhotoMeta(info.taken_at, "container" if info.taken_at else "", info.lon, info.lat)
    return CleanMedia(bytes(buf), MEDIA_TYPES[info.container], info.width, info.height, poster(), meta,
                      kind="video", duration_s=info.duration_s)


@functools.cache
def poster() -> bytes:
    """The generic thumbnail of every video (no frame is decoded without ffmpeg)."""
    img = Image.new("RGB", (320, 180), (38, 50, 56))
    ImageDraw.Draw(img).polygon([(135, 55), (135, 125), (195, 90)], fill=(236, 239, 241))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    return out.getvalue()


# ---- MP4 / QuickTime --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Box:
    type: bytes
    start: int  # the box's first byte
    body: int  # its content's first byte
    end: int


def _boxes(buf: bytearray, start: int, end: int) -> list[_Box]:
    """The boxes tiling [start, end), or a refusal when they do not."""
    out, at = [], start
    while at < end:
        if end - at < 8:
            raise _refuse(f"{end - at} stray bytes at offset {at}")
        size, kind = struct.unpack_from(">I4s", buf, at)
        body = at + 8
        if size == 1:
            if end - at < 16:
                raise _refuse(f"a truncated box header at offset {at}")
            size = struct.unpack_from(">Q", buf, at + 8)[0]
            body = at + 16
        elif size == 0:
            size = end - at  # to the end of the enclosing space
        if size < body - at or at + size > end:
            raise _refuse(f"box {kind!r} at offset {at} overruns its container")
        out.append(_Box(kind, at, body, at + size))
        at += size
    return out


def _child(buf: bytearray, box: _Box, kind: bytes, skip: int = 0) -> _Box | None:
    return next((b for b in _boxes(buf, box.body + skip, box.end) if b.type == kind), None)


def _meta_skip(buf: bytearray, meta: _Box) -> int:
    """ISO `meta` is a full box (4 bytes of version/flags); QuickTime's is not."""
    return 0 if buf[meta.body + 4 : meta.body + 8] == b"hdlr" else 4


def _mp4(buf: bytearray, kind: str) -> VideoInfo:
    top = _boxes(buf, 0, len(buf))
    moov = next((b for b in top if b.type == b"moov"), None)
    if moov is None:
        raise _refuse("no 'moov' box (an incomplete recording?)")
    mvhd = _child(buf, moov, b"mvhd")
    if mvhd is None or mvhd.end - mvhd.body < 32:
        raise _refuse("no movie header ('mvhd')")
    if buf[mvhd.body] == 1:
        created, _, scale, duration = struct.unpack_from(">QQIQ", buf, mvhd.body + 4)
    else:
        created, _, scale, duration = struct.unpack_from(">IIII", buf, mvhd.body + 4)
    taken = _MP4_EPOCH + timedelta(seconds=created) if created else None
    if taken is not None and taken.year < 1971:
        taken = None  # a recorder that wrote seconds since 1970 or none at all
    seconds = duration / scale if scale and duration not in (0, 2**32 - 1, 2**64 - 1) else None
    width = height = 0
    has_video = False
    lon = lat = None
    for trak in (b for b in _boxes(buf, moov.body, moov.end) if b.type == b"trak"):
        handler = _handler(buf, trak)
        if handler == b"vide":
            has_video = True
            tkhd = _child(buf, trak, b"tkhd")
            if tkhd is not None and tkhd.end - tkhd.body >= 84:
                width, height = (v >> 16 for v in struct.unpack_from(">II", buf, tkhd.end - 8))
        if handler not in _KEPT_HANDLERS:
            _blank_samples(buf, trak)
            _blank(buf, trak)
    if not has_video:
        raise _refuse("no video track (audio only?)")
    for box in _walk(buf, moov):
        if box.type == b"\xa9xyz" and lon is None:
            lon, lat = _iso6709(bytes(buf[box.body + 4 : box.end]))
        elif box.type == b"meta" and lon is None:
            lon, lat = _apple_location(buf, box)
    blanked_to = 0
    for box in sorted((b for b in _walk(buf, moov) + top if _is_metadata(b.type)), key=lambda b: b.start):
        if box.start >= blanked_to:  # not inside a box blanked already (a parent comes first)
            _blank(buf, box)
            blanked_to = box.end
    return VideoInfo(kind, seconds, width, height, taken, lon, lat)


_METADATA = frozenset({b"udta", b"meta", b"uuid", b"XMP_", b"loci", b"cprt"})


def _is_metadata(kind: bytes) -> bool:
    """Boxes that carry who, where and with what, never what the player needs: QuickTime's
    `©` items (`©xyz` place, `©mak` make …) wherever they are, user data, XMP, vendor uuids."""
    return kind in _METADATA or kind[:1] == b"\xa9"


def _walk(buf: bytearray, box: _Box, depth: int = 0) -> list[_Box]:
    """Every box below `box` in the containers that hold metadata (not inside sample data)."""
    if depth > 8:
        raise _refuse("boxes nested too deep")
    out = []
    for b in _boxes(buf, box.body, box.end):
        out.append(b)
        if b.type in (b"trak", b"udta", b"mdia", b"minf", b"stbl", b"edts", b"dinf"):
            out.extend(_walk(buf, b, depth + 1))
    return out


def _handler(buf: bytearray, trak: _Box) -> bytes:
    mdia = _child(buf, trak, b"mdia")
    hdlr = _child(buf, mdia, b"hdlr") if mdia is not None else None
    if hdlr is None or hdlr.end - hdlr.body < 12:
        return b""
    return bytes(buf[hdlr.body + 8 : hdlr.body + 12])


def _blank(buf: bytearray, box: _Box) -> None:
    """The box becomes `free` of the same size, its content zeroed: no offset moves."""
    buf[box.start + 4 : box.start + 8] = b"free"
    buf[box.body : box.end] = bytes(box.end - box.body)


def _blank_samples(buf: bytearray, trak: _Box) -> None:
    """Zero the bytes of a track's samples in `mdat` (its chunks: offsets × samples × sizes)."""
    mdia = _child(buf, trak, b"mdia")
    minf = _child(buf, mdia, b"minf") if mdia else None
    stbl = _child(buf, minf, b"stbl") if minf else None
    if stbl is None:
        return
    found = {b.type: b for b in _boxes(buf, stbl.body, stbl.end)}
    stsz, stsc = found.get(b"stsz"), found.get(b"stsc")
    stco = found.get(b"stco") or found.get(b"co64")
    if stsz is None or stsc is None or stco is None:
        raise _refuse("a metadata track without sample tables")
    fixed, count = struct.unpack_from(">II", buf, stsz.body + 4)
    if count > len(buf):
        raise _refuse("more samples than bytes")
    sizes = [fixed] * count if fixed else list(struct.unpack_from(f">{count}I", buf, stsz.body + 12))
    wide = stco.type == b"co64"
    n_chunks = struct.unpack_from(">I", buf, stco.body + 4)[0]
    offsets = struct.unpack_from(f">{n_chunks}{'Q' if wide else 'I'}", buf, stco.body + 8)
    n_runs = struct.unpack_from(">I", buf, stsc.body + 4)[0]
    runs = [struct.unpack_from(">III", buf, stsc.body + 8 + 12 * i) for i in range(n_runs)]
    sample = 0
    for i, offset in enumerate(offsets, start=1):
        per_chunk = next((r[1] for r in reversed(runs) if r[0] <= i), 0)
        length = sum(sizes[sample : sample + per_chunk])
        sample += per_chunk
        if offset + length > len(buf):
            raise _refuse("a sample lies outside the file")
        buf[offset : offset + length] = bytes(length)


def _iso6709(text: bytes) -> tuple[float | None, float | None]:
    m = _ISO6709.search(text)
    if m is None:
        return None, None
    lat, lon = float(m.group(1)), float(m.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None, None
    return lon, lat


def _apple_location(buf: bytearray, meta: _Box) -> tuple[float | None, float | None]:
    """Apple's `moov/meta`: `keys` names the entries, `ilst` item N holds key N's `data`."""
    children = {b.type: b for b in _boxes(buf, meta.body + _meta_skip(buf, meta), meta.end)}
    keys, ilst = children.get(b"keys"), children.get(b"ilst")
    if keys is None or ilst is None:
        return None, None
    index = next((i for i, k in enumerate(_boxes(buf, keys.body + 8, keys.end), start=1)
                  if bytes(buf[k.body : k.end]) == _APPLE_LOCATION), None)
    for item in _boxes(buf, ilst.body, ilst.end):
        if index is not None and struct.unpack(">I", item.type)[0] == index:
            data = _child(buf, item, b"data")
            if data is not None:
                return _iso6709(bytes(buf[data.body + 8 : data.end]))
    return None, None


# ---- WebM (Matroska) --------------------------------------------------------------------------

_EBML, _DOCTYPE, _SEGMENT, _INFO, _DURATION, _SCALE, _DATE = (
    0x1A45DFA3, 0x4282, 0x18538067, 0x1549A966, 0x4489, 0x2AD7B1, 0x4461)
_TRACKS, _TRACK_ENTRY, _TRACK_TYPE, _VIDEO, _PIXEL_W, _PIXEL_H = 0x1654AE6B, 0xAE, 0x83, 0xE0, 0xB0, 0xBA
_CLUSTER, _CLUSTER_TIME, _TAGS, _VOID = 0x1F43B675, 0xE7, 0x1254C367, 0xEC
_UNKNOWN = -1


def _vint(buf: bytearray, at: int, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at `at`: (value, length); size -1 when 'unknown'."""
    if at >= len(buf) or buf[at] == 0:
        raise _refuse(f"a bad EBML number at offset {at}")
    length = 9 - buf[at].bit_length()
    if at + length > len(buf):
        raise _refuse("a truncated EBML element")
    value = int.from_bytes(buf[at : at + length], "big")
    if keep_marker:
        return value, length
    value &= (1 << (7 * length)) - 1
    return (_UNKNOWN if value == (1 << (7 * length)) - 1 else value), length


@dataclass(frozen=True)
class _El:
    id: int
    start: int
    body: int
    end: int  # the end of its data (the end of the parent for an unknown size)


def _elements(buf: bytearray, start: int, end: int) -> list[_El]:
    out, at = [], start
    while at < end:
        ident, n = _vint(buf, at, keep_marker=True)
        size, m = _vint(buf, at + n, keep_marker=False)
        body = at + n + m
        stop = end if size == _UNKNOWN else body + size
        if stop > end:
            raise _refuse(f"element {ident:#x} at offset {at} overruns its container")
        out.append(_El(ident, at, body, stop))
        if ident == _CLUSTER and size == _UNKNOWN:
            break  # a live recording's clusters: read no further (see _last_cluster_time)
        at = stop
    return out


def _uint(buf: bytearray, el: _El) -> int:
    return int.from_bytes(buf[el.body : el.end], "big")


def _webm(buf: bytearray) -> VideoInfo:
    head = _elements(buf, 0, len(buf))
    if not head or head[0].id != _EBML:
        raise _refuse("no EBML header")
    doctype = next((bytes(buf[e.body : e.end]) for e in _elements(buf, head[0].body, head[0].end)
                    if e.id == _DOCTYPE), b"")
    if doctype.rstrip(b"\0") != b"webm":
        raise _refuse(f"the document type is {doctype!r}, not webm")
    segment = next((e for e in head[1:] if e.id == _SEGMENT), None)
    if segment is None:
        raise _refuse("no Segment")
    parts = _elements(buf, segment.body, segment.end)
    scale, duration, taken = 1_000_000, None, None
    for info in (e for e in parts if e.id == _INFO):
        for e in _elements(buf, info.body, info.end):
            if e.id == _SCALE:
                scale = _uint(buf, e) or scale
            elif e.id == _DURATION and e.end - e.body in (4, 8):
                duration = struct.unpack(">f" if e.end - e.body == 4 else ">d", bytes(buf[e.body : e.end]))[0]
            elif e.id == _DATE and e.end - e.body == 8:
                taken = _MKV_EPOCH + timedelta(microseconds=struct.unpack(">q", bytes(buf[e.body : e.end]))[0] / 1000)
    width = height = 0
    has_video = False
    for tracks in (e for e in parts if e.id == _TRACKS):
        for entry in (e for e in _elements(buf, tracks.body, tracks.end) if e.id == _TRACK_ENTRY):
            fields = {e.id: e for e in _elements(buf, entry.body, entry.end)}
            if _TRACK_TYPE in fields and _uint(buf, fields[_TRACK_TYPE]) == 1:
                has_video = True
                if _VIDEO in fields:
                    video = {e.id: e for e in _elements(buf, fields[_VIDEO].body, fields[_VIDEO].end)}
                    width = _uint(buf, video[_PIXEL_W]) if _PIXEL_W in video else 0
                    height = _uint(buf, video[_PIXEL_H]) if _PIXEL_H in video else 0
    if not has_video:
        raise _refuse("no video track (audio only?)")
    seconds = duration * scale / 1e9 if duration is not None else _last_cluster_time(buf, scale)
    for tags in (e for e in parts if e.id == _TAGS):
        _void(buf, tags)
    return VideoInfo("webm", seconds, width, height, taken, None, None)


def _last_cluster_time(buf: bytearray, scale: int) -> float | None:
    """A live recording (MediaRecorder) writes no Duration: the last cluster's start time, a
    lower bound within one cluster (a few seconds)."""
    at = buf.rfind(b"\x1f\x43\xb6\x75")
    if at < 0:
        return None
    try:
        _, m = _vint(buf, at + 4, keep_marker=False)
        child = at + 4 + m
        ident, n = _vint(buf, child, keep_marker=True)
        size, k = _vint(buf, child + n, keep_marker=False)
    except RefusedUpload:
        return None
    if ident != _CLUSTER_TIME or not 0 < size <= 8:
        return None
    start = child + n + k
    return int.from_bytes(buf[start : start + size], "big") * scale / 1e9


def _void(buf: bytearray, el: _El) -> None:
    """Overwrite an element with a Void element of exactly the same length."""
    total = el.end - el.start
    n = min(8, total - 1)
    if n < 1:
        return
    payload = total - 1 - n
    if payload >= (1 << (7 * n)) - 1:
        raise _refuse("a Tags element too large to blank")
    buf[el.start] = _VOID
    buf[el.start + 1 : el.start + 1 + n] = ((1 << (7 * n)) | payload).to_bytes(n, "big")
    buf[el.start + 1 + n : el.end] = bytes(payload)
