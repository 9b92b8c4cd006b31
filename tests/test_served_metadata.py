"""What is served carries no hidden place: a photo's comment (COM) and every APPn segment but
JFIF (EXIF/GPS and XMP in APP1, ICC in APP2, IPTC in APP13, vendors' APP15 …), and a video's
`©xyz` straight in `moov`, `©` items anywhere, `uuid` (XMP) boxes at any depth, are gone from
the bytes the server hands out — the photo, its thumbnail and the video — although the upload
was judged by them."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator

import pytest
from PIL import Image

from cityops.field import images, videos
from cityops.field.samples import _box, jpeg, mp4
from conftest import Api
from field_support import quick_api
from stores import new_db

LON, LAT = 114.3055, 30.5928
PLACE = b"+30.5928+114.3055/"
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description exif:GPSLatitude="30,35.568N"'
       b' exif:GPSLongitude="114,18.33E"/></rdf:RDF></x:xmpmeta>')
SECRETS = (b"GPSLatitude", b"secret-comment", b"30,35.568N", b"cityops-test", b"iptc-place", b"vendor-gps",
           b"Photoshop", b"ICC_PROFILE", b"xmpmeta", PLACE, b"+30.5928")


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def hostile_jpeg() -> bytes:
    """A phone photo with EXIF GPS, then an XMP APP1, an ICC APP2, an IPTC APP13, a vendor APP15,
    a second non-JFIF APP0 and a comment, all before the frame."""
    base = jpeg(lon=LON, lat=LAT)
    extra = (_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP)
             + _segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + bytes(64))
             + _segment(0xED, b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x10iptc-place-wuhan")
             + _segment(0xEF, b"vendor-gps " + PLACE)
             + _segment(0xE0, b"JFXX\x00vendor-gps")
             + _segment(0xFE, b"secret-comment " + PLACE))
    return base[:2] + extra + base[2:]


def markers(data: bytes) -> list[int]:
    """The markers of a JPEG up to its first scan."""
    out, i = [], 2
    while data[i + 1] != 0xDA:
        out.append(data[i + 1])
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return out


def assert_clean_jpeg(data: bytes) -> None:
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    kept = markers(data)
    assert not [hex(m) for m in kept if 0xE1 <= m <= 0xEF or m == 0xFE], kept
    assert not [s for s in SECRETS if s in data]
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert not img.getexif() and not {"comment", "xmp", "icc_profile", "exif"} & set(img.info)


def test_the_hostile_jpeg_does_carry_its_secrets() -> None:
    data = hostile_jpeg()
    with Image.open(io.BytesIO(data)) as img:
        assert img.info["comment"].startswith(b"secret-comment") and img.getexif()
    assert {0xE1, 0xE2, 0xED, 0xEF, 0xFE} <= set(markers(data))


def test_photos_and_thumbnails_lose_every_comment_and_appn() -> None:
    out = images.process(hostile_jpeg(), images.ZoneInfo("Asia/Shanghai"))
    assert (out.meta.lon, out.meta.lat) != (None, None)  # judged by its place …
    assert_clean_jpeg(out.data)  # … served without it
    assert_clean_jpeg(out.thumbnail)
    png = io.BytesIO()
    img = Image.new("RGB", (40, 30), (1, 2, 3))
    img.info["comment"] = b"secret-comment"
    img.save(png, "PNG", icc_profile=b"ICC_PROFILE" + bytes(64))
    assert b"ICC_PROFILE" not in images.process(png.getvalue(), images.ZoneInfo("Asia/Shanghai")).data


def test_strip_jpeg_keeps_the_picture() -> None:
    data = hostile_jpeg()
    clean = images.strip_jpeg(data)
    with Image.open(io.BytesIO(data)) as a, Image.open(io.BytesIO(clean)) as b:
        assert list(a.convert("RGB").getdata()) == list(b.convert("RGB").getdata())
    progressive = io.BytesIO()
    Image.new("RGB", (64, 64), (9, 200, 30)).save(progressive, "JPEG", progressive=True, comment=b"secret-comment")
    assert_clean_jpeg(images.strip_jpeg(progressive.getvalue()))
    with pytest.raises(ValueError):
        images.strip_jpeg(data[:200])


def hostile_mp4() -> bytes:
    """`©xyz` straight in `moov` (not in `udta`), a `uuid` XMP box in `moov` and in the video
    track, and one at the top level."""
    data = mp4(lon=LON, lat=LAT)
    uuid_xmp = _box(b"uuid", bytes.fromhex("be7acfcb97a942e89c71999491e3afac") + XMP)
    xyz = _box(b"\xa9xyz", struct.pack(">HH", len(PLACE), 0x15C7) + PLACE)
    at = data.index(b"moov") - 4
    moov_size = struct.unpack_from(">I", data, at)[0]
    moov = bytearray(data[at : at + moov_size])
    trak = moov.index(b"trak") - 4
    trak_size = struct.unpack_from(">I", moov, trak)[0]
    moov[trak : trak + trak_size] = struct.pack(">I", trak_size + len(uuid_xmp)) + moov[trak + 4 : trak + trak_size] + uuid_xmp
    body = bytes(moov[8:]) + xyz + uuid_xmp
    return data[:at] + uuid_xmp + _box(b"moov", body) + data[at + moov_size :]


def test_videos_lose_xyz_in_moov_and_uuid_boxes_anywhere() -> None:
    data = hostile_mp4()
    out = videos.process(data, "mp4")
    assert (out.meta.lon, out.meta.lat) == (LON, LAT)  # judged by its place …
    assert len(out.data) == len(data)
    assert not [s for s in (*SECRETS, b"\xa9xyz", b"uuid", b"udta") if s in out.data]  # … served without it
    again = videos.process(out.data, "mp4")  # still a valid video, with nothing left to find
    assert again.meta.lon is None and again.data == out.data


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with quick_api(new_db(tmp_path_factory.mktemp("served"), "t.db")) as a:
        yield a


def test_served_bytes_over_http(api: Api) -> None:
    cid = api.report(lon=LON, lat=LAT).json()["id"]
    photo = api.post("collector", f"/api/v1/cases/{cid}/attachments",
                     files={"file": ("p.jpg", hostile_jpeg(), "image/jpeg")})
    assert photo.status_code == 201, photo.text
    assert_clean_jpeg(api.get("collector", photo.json()["url"]).content)
    assert_clean_jpeg(api.get("collector", photo.json()["thumbnail_url"]).content)
    clip = api.post("collector", f"/api/v1/cases/{cid}/attachments", files={"file": ("v.mp4", hostile_mp4(), "video/mp4")})
    assert clip.status_code == 201, clip.text
    served = api.get("collector", clip.json()["url"]).content
    assert served[4:8] == b"ftyp" and not [s for s in (*SECRETS, b"\xa9xyz", b"uuid") if s in served]
