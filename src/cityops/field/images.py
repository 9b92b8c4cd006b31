"""Photos as values: sniff the type from the bytes, read EXIF (place, time), re-encode without
personal metadata, make a thumbnail, and judge the photo against the report it belongs to.

Nothing here touches storage or HTTP: bytes in, values out. The type is decided by the file's
first bytes and then by Pillow actually decoding it; the name and the declared content type
are never consulted (a browser or an attacker can say anything there).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image, ImageOps, UnidentifiedImageError

from cityops.errors import InvalidInput

MAX_BYTES = 10 * 1024 * 1024  # a phone photo is 2–6 MB
MAX_PIXELS = 40_000_000  # above this Pillow's decompression-bomb guard would be the only defence
THUMB_EDGE = 320
# Output formats by sniffed input: photos become JPEG, PNG stays PNG (screenshots, alpha).
_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"WEBP", 8, "webp"),
)
MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png"}


class RefusedUpload(InvalidInput):
    """An upload we will not store (422), with the reason in both languages."""


class TooLarge(RefusedUpload):
    status = 413
    code = "too_large"


@dataclass(frozen=True)
class Flag:
    """Something a reviewer should look at; the photo is stored all the same."""

    code: str
    message: str
    message_zh: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "message_zh": self.message_zh}


@dataclass(frozen=True)
class PhotoMeta:
    """What the EXIF said (before it was stripped)."""

    taken_at: datetime | None = None  # UTC
    time_source: str = ""  # offset | gps | local | container (a video's own clock) | ""
    lon: float | None = None
    lat: float | None = None
    camera_clock_skew_s: float | None = None  # DateTimeOriginal vs the GPS clock, zone-free


@dataclass(frozen=True)
class CleanMedia:
    """A cleaned upload: a photo here, or a video (videos.py)."""

    data: bytes  # re-encoded (photos) or blanked (videos): no EXIF/XMP/GPS/comments
    media_type: str
    width: int
    height: int
    thumbnail: bytes  # JPEG (a generic poster for videos)
    meta: PhotoMeta = field(default_factory=PhotoMeta)
    kind: str = "image"  # image | video
    duration_s: float | None = None


def sniff(data: bytes) -> str:
    """The format named by the first bytes, or a refusal."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for magic, offset, name in _MAGIC:
        if data[offset : offset + len(magic)] == magic and name != "webp":
            return name
    if data[4:8] == b"ftyp" or data[:4] == b"\x1a\x45\xdf\xa3":
        raise RefusedUpload(
            "videos are accepted only as case attachments (POST /api/v1/cases/{id}/attachments); "
            "send a JPEG, PNG or WebP photo here",
            "此处不接受视频（视频请作为案卷附件上传），请上传 JPEG、PNG 或 WebP 照片",
        )
    raise RefusedUpload(
        "the file is not a JPEG, PNG or WebP image (judged from its content, not its name)",
        "文件内容不是 JPEG、PNG 或 WebP 图片（按文件内容判断，而非文件名）",
    )


def process(data: bytes, zone: ZoneInfo) -> CleanMedia:
    """Check, read and clean one upload. Raises RefusedUpload / TooLarge; never half-works."""
    if len(data) > MAX_BYTES:
        raise TooLarge(
            f"the photo has {len(data)} bytes; at most {MAX_BYTES} are accepted",
            f"照片过大（{len(data)} 字节），上限 {MAX_BYTES} 字节",
        )
    if not data:
        raise RefusedUpload("the file is empty", "文件为空")
    kind = sniff(data)
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if (probe.format or "").lower() != kind:
                raise RefusedUpload(
                    f"the file starts like {kind} but decodes as {probe.format}",
                    f"文件头为 {kind}，但内容是 {probe.format}",
                )
            if probe.width * probe.height > MAX_PIXELS:
                raise TooLarge(
                    f"{probe.width}×{probe.height} pixels is over the {MAX_PIXELS} pixel limit",
                    f"图片像素过多（{probe.width}×{probe.height}）",
                )
            probe.verify()  # structure and checksums, without decoding every pixel
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # a truncated or corrupt body fails here
            meta = read_meta(img, zone)
            upright = ImageOps.exif_transpose(img)
    except RefusedUpload:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise RefusedUpload(
            f"the image cannot be decoded: {exc}", "图片已损坏或无法解码"
        ) from None
    clean, media_type = _encode(upright, kind)
    return CleanMedia(clean, media_type, upright.width, upright.height, _thumbnail(upright), meta)


def _pixels(img: Image.Image, mode: str) -> Image.Image:
    """The picture in `mode` with nothing beside the pixels: `convert` and `copy` carry the
    source's `info` (its JPEG comment, XMP, ICC profile, PNG text), which Pillow writes back."""
    fresh = img.convert(mode)
    fresh.info = {}
    return fresh


def _encode(img: Image.Image, kind: str) -> tuple[bytes, str]:
    """Pixels only: a fresh file carries no EXIF, XMP, GPS, maker notes or comments."""
    out = io.BytesIO()
    if kind == "png":
        fresh = _pixels(img, "RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB")
        fresh.save(out, "PNG", optimize=False)  # no pnginfo: text chunks are dropped
        return out.getvalue(), "image/png"
    _pixels(img, "RGB").save(out, "JPEG", quality=88)  # no exif=, no icc_profile=: nothing kept
    return strip_jpeg(out.getvalue()), "image/jpeg"


def _thumbnail(img: Image.Image) -> bytes:
    small = _pixels(img, img.mode)
    small.thumbnail((THUMB_EDGE, THUMB_EDGE), reducing_gap=2.0)  # shrink by whole factors first: fast
    out = io.BytesIO()
    _pixels(small, "RGB").save(out, "JPEG", quality=80)
    return strip_jpeg(out.getvalue())


_JFIF = b"JFIF\x00"


def strip_jpeg(data: bytes) -> bytes:
    """The JPEG rebuilt from what decoding needs, whatever the encoder wrote: SOI, a JFIF APP0,
    tables (DQT, DHT, DRI), frame and scan headers with their entropy-coded data, EOI. Every
    other APPn (EXIF and XMP in APP1, ICC in APP2, …, APP15), any other APP0 and every
    comment (COM) is dropped. ValueError when the bytes are not a well-formed JPEG."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    out, i, n = [b"\xff\xd8"], 2, len(data)
    while i + 1 < n:
        if data[i] != 0xFF:
            raise ValueError(f"no marker at offset {i}")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:  # EOI
            out.append(b"\xff\xd9")
            return b"".join(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            out.append(data[i : i + 2])
            i += 2
            continue
        end = i + 2 + int.from_bytes(data[i + 2 : i + 4], "big")
        if end > n:
            raise ValueError(f"segment at offset {i} overruns the file")
        if marker == 0xDA:  # SOS: the header, then entropy-coded data up to the next real marker
            end = _scan_end(data, end)
        elif 0xE1 <= marker <= 0xEF or marker == 0xFE or (marker == 0xE0 and data[i + 4 : i + 9] != _JFIF):
            i = end
            continue
        out.append(data[i:end])
        i = end
    raise ValueError("no end of image")


def _scan_end(data: bytes, at: int) -> int:
    """Where a scan's entropy-coded data ends: the first 0xFF not followed by 0x00 (a stuffed
    byte), a restart marker or a fill byte."""
    while True:
        at = data.find(b"\xff", at)
        if at < 0 or at + 1 >= len(data):
            raise ValueError("a scan without an end")
        following = data[at + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            at += 2
        elif following == 0xFF:
            at += 1
        else:
            return at


# EXIF tag numbers (EXIF 2.32).
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME, _DATETIME_ORIGINAL, _OFFSET_ORIGINAL = 0x0132, 0x9003, 0x9011


def read_meta(img: Image.Image, zone: ZoneInfo) -> PhotoMeta:
    """Place and time from EXIF. The time, in order of trust: DateTimeOriginal with its
    OffsetTimeOriginal; the GPS clock (UTC from satellites); DateTimeOriginal (or the file's
    DateTime) read in the city's zone."""
    exif = img.getexif()
    if not exif:
        return PhotoMeta()
    sub = exif.get_ifd(_EXIF_IFD)
    gps = exif.get_ifd(_GPS_IFD)
    lon, lat = _gps_point(gps)
    gps_time = _gps_time(gps)
    local = _exif_time(sub.get(_DATETIME_ORIGINAL)) or _exif_time(exif.get(_DATETIME))
    skew = None
    if local is not None and gps_time is not None:
        # Zones are at most 14 h from UTC: a wider gap is the camera's clock, not its zone.
        gap = abs((local.replace(tzinfo=UTC) - gps_time).total_seconds())
        skew = gap if gap > 14 * 3600 + 60 else None
    offset = _offset(sub.get(_OFFSET_ORIGINAL))
    if local is not None and offset is not None and _exif_time(sub.get(_DATETIME_ORIGINAL)):
        taken, source = local.replace(tzinfo=offset).astimezone(UTC), "offset"
    elif gps_time is not None:
        taken, source = gps_time, "gps"
    elif local is not None:
        taken, source = local.replace(tzinfo=zone).astimezone(UTC), "local"
    else:
        taken, source = None, ""
    return PhotoMeta(taken, source, lon, lat, skew)


def _exif_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    text = value.strip().rstrip("\x00").strip()
    if not text:
        return None  # e.g. the zero-length DateTimeOriginal some Samsung phones write
    try:
        return datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _offset(value: Any) -> timezone | None:
    if not isinstance(value, str) or len(value.strip()) < 6:
        return None
    text = value.strip()
    try:
        sign = -1 if text[0] == "-" else 1
        hours, minutes = int(text[1:3]), int(text[4:6])
    except ValueError:
        return None
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _ratio(v: Any) -> float:
    return float(v[0]) / float(v[1]) if isinstance(v, tuple) else float(v)


def _dms(values: Any, ref: Any, negative: str) -> float | None:
    try:
        d, m, s = (_ratio(v) for v in values)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    out = d + m / 60 + s / 3600
    if not math.isfinite(out):
        return None
    return -out if str(ref).upper().startswith(negative) else out


def _gps_point(gps: Any) -> tuple[float | None, float | None]:
    if not gps or 2 not in gps or 4 not in gps:
        return None, None
    lat = _dms(gps[2], gps.get(1, "N"), "S")
    lon = _dms(gps[4], gps.get(3, "E"), "W")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None, None
    return lon, lat


def _gps_time(gps: Any) -> datetime | None:
    if not gps or 7 not in gps or 29 not in gps:
        return None
    try:
        h, m, s = (_ratio(v) for v in gps[7])
        day = datetime.strptime(str(gps[29]).strip()[:10], "%Y:%m:%d").replace(tzinfo=UTC)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return day + timedelta(hours=h, minutes=m, seconds=s)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Limits:
    """How far (km) and how long before the report (days) a photo may be taken unflagged."""

    max_km: float = 1.0
    max_days: float = 3.0
    future_tolerance: timedelta = timedelta(hours=1)


DEFAULT_LIMITS = Limits()


def judge(meta: PhotoMeta, stage: str, case_lon: float | None, case_lat: float | None,
          reported_at: datetime, now: datetime, limits: Limits | None = None) -> tuple[list[Flag], float | None]:
    """Flags for a photo against its case, and the distance in metres (None without GPS)."""
    limits = limits or DEFAULT_LIMITS
    flags: list[Flag] = []
    dist = None
    if meta.lon is not None and meta.lat is not None and case_lon is not None and case_lat is not None:
        dist = distance_m(meta.lon, meta.lat, case_lon, case_lat)
        if dist > limits.max_km * 1000:
            flags.append(Flag(
                "far_away",
                f"the photo was taken {dist / 1000:.1f} km from the reported place (more than {limits.max_km:g} km)",
                f"照片拍摄地点距上报位置 {dist / 1000:.1f} 公里（超过 {limits.max_km:g} 公里）",
            ))
    if meta.taken_at is not None:
        age = reported_at - meta.taken_at
        if age > timedelta(days=limits.max_days):
            flags.append(Flag(
                "too_old",
                f"the photo was taken {age.total_seconds() / 86400:.1f} days before the report "
                f"(more than {limits.max_days:g} days)",
                f"照片拍摄于上报前 {age.total_seconds() / 86400:.1f} 天（超过 {limits.max_days:g} 天）",
            ))
        elif stage in ("after", "verify") and meta.taken_at < reported_at - limits.future_tolerance:
            flags.append(Flag(
                "after_photo_before_report",
                "an after/verification photo was taken before the problem was reported",
                "处置后/核查照片的拍摄时间早于问题上报时间",
            ))
        if meta.taken_at > now + limits.future_tolerance:
            flags.append(Flag(
                "in_future", "the photo's time is in the future: the camera clock is wrong",
                "照片拍摄时间晚于当前时间，相机时钟有误",
            ))
    if meta.camera_clock_skew_s is not None:
        flags.append(Flag(
            "clock_skew",
            f"the camera clock disagrees with GPS time by {meta.camera_clock_skew_s / 3600:.1f} h; GPS time used",
            f"相机时钟与 GPS 时间相差 {meta.camera_clock_skew_s / 3600:.1f} 小时，已采用 GPS 时间",
        ))
    return flags, dist
