"""Short videos as values (cityops.field.videos): the container's time, place, length and size
read without a decoder, the place blanked with no offset moved, and any bytes either read or
refused with a reason — never a crash."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityops.field import images, videos
from cityops.field.samples import mp4, webm

LON, LAT = 114.3055, 30.5928
TAKEN = datetime(2026, 11, 30, 2, 15, 7, tzinfo=UTC)


def clean(data: bytes, **limits: float) -> images.CleanMedia:
    kind = videos.sniff(data)
    assert kind is not None
    return videos.process(data, kind, **limits)  # type: ignore[arg-type]


def test_android_mp4_time_place_size_and_blanking() -> None:
    data = mp4(duration_s=9.5, lon=LON, lat=LAT, taken=TAKEN, width=1280, height=720)
    out = clean(data)
    assert (out.kind, out.media_type, out.width, out.height, out.duration_s) == ("video", "video/mp4", 1280, 720, 9.5)
    assert out.meta.taken_at == TAKEN and out.meta.time_source == "container"
    assert (out.meta.lon, out.meta.lat) == (LON, LAT)
    assert len(out.data) == len(data) and b"\xa9xyz" not in out.data and b"+30.5928" not in out.data
    assert b"udta" not in out.data and out.data.count(b"free") >= 1
    again = clean(out.data)  # the blanked file is still a valid video, with no place left
    assert again.meta.lon is None and again.duration_s == 9.5 and again.data == out.data


def test_quicktime_apple_keys_and_metadata_tracks() -> None:
    iphone = clean(mp4(lon=-73.9857, lat=40.7484, apple=True, brand=b"qt  "))
    assert iphone.media_type == "video/quicktime" and (iphone.meta.lon, iphone.meta.lat) == (-73.9857, 40.7484)
    assert b"com.apple.quicktime.location" not in iphone.data and b"+40.7484" not in iphone.data
    drone = clean(mp4(lon=LON, lat=LAT, gps_track=True))
    assert b"GPS +30.5928" not in drone.data and (drone.meta.lon, drone.meta.lat) == (LON, LAT)
    assert drone.data.count(b"hdlr") == 1  # the metadata track is gone, the video track stays


def test_mvhd_version_1_and_64_bit_box_sizes() -> None:
    data = bytearray(mp4(duration_s=3, taken=TAKEN))
    at = data.index(b"mvhd") - 4
    size = struct.unpack_from(">I", data, at)[0]
    created = int((TAKEN - datetime(1904, 1, 1, tzinfo=UTC)).total_seconds())
    body = b"\x01\0\0\0" + struct.pack(">QQIQ", created, created, 600, 1800) + bytes(80)
    v1 = struct.pack(">I4s", 8 + len(body), b"mvhd") + body
    data[at : at + size] = v1
    moov = data.index(b"moov") - 4
    struct.pack_into(">I", data, moov, struct.unpack_from(">I", data, moov)[0] + len(v1) - size)
    out = clean(bytes(data))
    assert out.duration_s == 3.0 and out.meta.taken_at == TAKEN
    # A 64-bit size (size field 1) on the media data.
    mdat = data.index(b"mdat") - 4
    n = struct.unpack_from(">I", data, mdat)[0]
    big = struct.pack(">I4sQ", 1, b"mdat", n + 8) + data[mdat + 8 : mdat + n]
    assert clean(bytes(data[:mdat] + big + data[mdat + n :])).duration_s == 3.0


def test_webm_duration_date_tags_and_live_recordings() -> None:
    out = clean(webm(duration_s=6.5, taken=TAKEN, width=480, height=640, tag="+30.5928+114.3055/"))
    assert (out.media_type, out.width, out.height, out.duration_s) == ("video/webm", 480, 640, 6.5)
    assert out.meta.taken_at == TAKEN and b"LOCATION" not in out.data and b"114.3055" not in out.data
    assert clean(out.data).duration_s == 6.5
    assert clean(webm(duration_s=None, live=True)).duration_s == 4.0
    assert clean(webm(duration_s=None)).duration_s == 4.0


@pytest.mark.parametrize(("data", "word"), [
    (mp4(duration_s=61), "61.0 s"),
    (mp4(audio_only=True), "no video track"),
    (webm(doctype=b"matroska"), "not webm"),
    (mp4()[:-10], "overruns"),
    (mp4().replace(b"moov", b"moox"), "no 'moov'"),
])
def test_refusals_have_reasons(data: bytes, word: str) -> None:
    with pytest.raises(images.RefusedUpload) as exc:
        clean(data)
    assert word in exc.value.message_en and exc.value.message_zh


def test_size_limit_and_heif_still_images() -> None:
    with pytest.raises(images.TooLarge):
        clean(mp4(), max_bytes=100)
    with pytest.raises(images.RefusedUpload, match="HEIC"):
        videos.sniff(b"\0\0\0\x18ftypheic" + bytes(16))
    assert videos.sniff(b"\xff\xd8\xff\xe0") is None


def test_the_flags_of_photos_apply_to_videos() -> None:
    out = clean(mp4(lon=LON + 0.05, lat=LAT, taken=TAKEN - timedelta(days=5)))
    flags, dist = images.judge(out.meta, "before", LON, LAT, TAKEN, TAKEN)
    assert {f.code for f in flags} == {"far_away", "too_old"} and dist is not None and dist > 4000


@settings(max_examples=200, deadline=None)
@given(base=st.sampled_from([mp4(lon=LON, lat=LAT, taken=TAKEN, gps_track=True), mp4(apple=True, lon=LON, lat=LAT),
                             webm(tag="x", taken=TAKEN), webm(duration_s=None, live=True)]),
       edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       cut=st.integers(0, 10_000))
def test_damaged_videos_are_read_or_refused_never_crash(base: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(base)
    for at, value in edits:
        data[at % len(data)] = value
    data = data[: max(12, len(data) - cut % 64)]
    try:
        kind = videos.sniff(bytes(data))
        if kind is None:
            return
        out = videos.process(bytes(data), kind)
    except images.RefusedUpload as exc:
        assert exc.message_zh and exc.status in (413, 422)
    else:
        assert len(out.data) == len(data) and out.kind == "video"


@settings(max_examples=100, deadline=None)
@given(head=st.sampled_from([b"\0\0\0\x14ftypmp42", b"\0\0\0\x14ftypqt  ", b"\x1a\x45\xdf\xa3"]),
       body=st.binary(max_size=300))
def test_any_bytes_after_a_video_header_are_refused_cleanly(head: bytes, body: bytes) -> None:
    try:
        videos.process(head + body, videos.sniff(head + body) or "mp4")
    except images.RefusedUpload as exc:
        assert exc.message_zh
