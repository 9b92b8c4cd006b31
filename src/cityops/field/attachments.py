"""Photos on cases: the order of an upload, and the rows that point at the stored files.

An upload is (1) checked against the case the caller may see, (2) decoded, judged and cleaned
in memory (images.py; a video's container read and blanked by videos.py), (3) written to the
blob store (blobs.py: a directory, or an S3-compatible object store), (4) recorded by
one row in a write transaction that checks the case again. If (4) refuses, the files are
removed in a write transaction of their own unless another row points at them; anything a
crash leaves between (3) and (4) is an orphan that `cleanup_orphans` removes later.
"""

from __future__ import annotations

import contextlib
import secrets
import zlib
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

import orjson

from cityops.cases import service as cases
from cityops.cases.models import Actor, Case
from cityops.errors import InvalidInput, NotFound
from cityops.field import images, videos
from cityops.field.blobs import BlobStore, BlobStoreUnavailable, blobs_for
from cityops.store.codec import from_us, to_us
from cityops.timefmt import iso

if TYPE_CHECKING:
    from cityops.core import Platform

STAGES = ("before", "after", "verify", "evidence")
STAGE_LABELS = {"before": ("处置前", "before"), "after": ("处置后", "after"),
                "verify": ("核查", "verification"), "evidence": ("取证", "evidence")}
ORPHAN_GRACE_S = 3600.0  # an upload between its files and its row is never this slow
VIDEO_MAX_MB_SETTING = "field.video_max_mb"  # a city's size limit for videos; 0 refuses them
VIDEO_MAX_S_SETTING = "field.video_max_seconds"


@dataclass(frozen=True)
class VideoLimits:
    """A city's limits for short videos (settings above; the server's ceiling is videos.MAX_BYTES)."""

    max_bytes: int = videos.DEFAULT_MAX_BYTES
    max_seconds: float = videos.DEFAULT_MAX_SECONDS


    @property
    def accepted(self) -> bool:
        return self.max_bytes > 0 and self.max_seconds > 0


def video_limits(repo: Any) -> VideoLimits:
    """The city's video limits (`field.video_max_mb` 0: the city takes no videos)."""
    mb, seconds = repo.get_setting(VIDEO_MAX_MB_SETTING), repo.get_setting(VIDEO_MAX_S_SETTING)
    return VideoLimits(
        min(int(float(mb) * 1024 * 1024), videos.MAX_BYTES) if mb else videos.DEFAULT_MAX_BYTES,
        float(seconds) if seconds else videos.DEFAULT_MAX_SECONDS,
    )


def set_video_limits(repo: Any, max_mb: float, max_seconds: float) -> VideoLimits:
    """Write op: change the city's video limits (`cityops field video-limits`)."""
    if max_mb < 0 or max_seconds < 0 or max_mb * 1024 * 1024 > videos.MAX_BYTES:
        raise InvalidInput(f"video limits: 0 ≤ MB ≤ {videos.MAX_BYTES // 2**20}, seconds ≥ 0",
                           f"视频上限：0 ≤ 大小 ≤ {videos.MAX_BYTES // 2**20} MB，时长 ≥ 0 秒")
    repo.set_setting(VIDEO_MAX_MB_SETTING, f"{max_mb:g}")
    repo.set_setting(VIDEO_MAX_S_SETTING, f"{max_seconds:g}")
    return video_limits(repo)


@dataclass(frozen=True)
class Stored:
    """A cleaned upload whose files are on disk, ready for its row (picklable)."""

    id: str
    case_id: int
    stage: str
    sha256: str
    thumb_sha256: str
    media_type: str
    size: int
    width: int
    height: int
    taken_at: datetime | None
    photo_lon: float | None
    photo_lat: float | None
    distance_m: float | None
    flags: tuple[dict[str, str], ...]
    uploaded_by: str
    uploaded_at: datetime
    duration_s: float | None = None


def blobs(platform: Platform) -> BlobStore:
    """The server's blob store (a directory by default, S3 by `$CITYOPS_BLOB_STORE`)."""
    return blobs_for(platform.store.path)


def clean(data: bytes, platform: Platform, video: VideoLimits | None) -> images.CleanMedia:
    """A photo, or (where `video` limits are given) a short video, sniffed from the bytes."""
    kind = videos.sniff(data) if video is not None else None
    if video is not None and kind is not None:
        if not video.accepted:
            raise images.RefusedUpload("this city takes no videos on cases; send a JPEG, PNG or WebP photo",
                                       "本市案卷不接受视频，请上传 JPEG、PNG 或 WebP 照片")
        return videos.process(data, kind, video.max_bytes, video.max_seconds)
    return images.process(data, platform.calendar.zone)


def check_stage(stage: str | None) -> str:
    stage = (stage or "before").strip().lower()
    if stage not in STAGES:
        raise InvalidInput(f"stage must be one of {', '.join(STAGES)}", f"照片阶段只能是 {'、'.join(STAGES)}")
    return stage


def prepare(platform: Platform, data: bytes, case: Case, stage: str, actor: Actor, now: datetime,
            limits: images.Limits = images.DEFAULT_LIMITS, video: VideoLimits | None = None) -> Stored:
    """Decode, judge, clean and store the files of one upload (no database write)."""
    return prepare_at(platform, data, case.id, case.lon, case.lat, case.reported_at, stage, actor, now,
                      limits, video)


def prepare_at(platform: Platform, data: bytes, case_id: int, lon: float | None, lat: float | None,
               reported_at: datetime, stage: str, actor: Actor, now: datetime,
               limits: images.Limits = images.DEFAULT_LIMITS, video: VideoLimits | None = None) -> Stored:
    """`prepare` for a report not yet stored (Open311 media with its report): case_id may be 0.
    Videos are taken only where `video` limits are given (case attachments)."""
    media = clean(data, platform, video)
    flags, dist = images.judge(media.meta, stage, lon, lat, reported_at, now, limits)
    store = blobs(platform)
    sha = store.put(media.data)  # an object store failing here: 503, and no row is written
    thumb = store.put(media.thumbnail)
    return Stored(
        id=secrets.token_hex(16), case_id=case_id, stage=stage, sha256=sha, thumb_sha256=thumb,
        media_type=media.media_type, size=len(media.data), width=media.width, height=media.height,
        taken_at=media.meta.taken_at, photo_lon=media.meta.lon, photo_lat=media.meta.lat,
        distance_m=dist, flags=tuple(f.to_dict() for f in flags), uploaded_by=actor.name,
        uploaded_at=now, duration_s=media.duration_s,
    )


COLUMNS = ("id", "case_id", "stage", "sha256", "thumb_sha256", "media_type", "size", "width",
           "height", "taken_at", "photo_lon", "photo_lat", "distance_m", "flags", "uploaded_by",
           "uploaded_at", "duration_s")


def record(repo: Any, platform: Platform, stored: Stored, actor: Actor) -> tuple[dict[str, Any], bool]:
    """Write op: the row for stored files; the same picture at the same stage on the same case
    is the same attachment (a retried upload). Returns (row, created)."""
    cases.get_visible(repo, stored.case_id, actor)  # the case may have moved since the check
    same = repo.conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM attachments WHERE case_id = ? AND stage = ? AND sha256 = ?",
        (stored.case_id, stored.stage, stored.sha256),
    ).fetchone()
    if same is not None:
        return row_dict(same), False
    repo.conn.execute(
        f"INSERT INTO attachments ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
        values(stored, COLUMNS),
    )
    return _row_of(stored), True


def values(stored: Stored, columns: tuple[str, ...]) -> tuple[Any, ...]:
    """The stored upload as a row's values, in `columns`' order (times as µs, flags as JSON)."""
    encode = {"taken_at": to_us(stored.taken_at), "uploaded_at": to_us(stored.uploaded_at),
              "flags": orjson.dumps(list(stored.flags)).decode()}
    return tuple(encode[c] if c in encode else getattr(stored, c) for c in columns)


def discard(repo: Any, platform: Platform, digests: tuple[str, ...]) -> None:
    """Write op: remove files no row points at (run after a refused upload). Inside a write
    transaction, so no other upload can record a row for them meanwhile. An object store that
    cannot be reached leaves them: an orphan is harmless and `cleanup_orphans` removes it later."""
    store = blobs(platform)
    with contextlib.suppress(BlobStoreUnavailable):
        for digest in digests:
            if not _referenced(repo, digest):
                store.delete(digest)


def cleanup_orphans(repo: Any, platform: Platform, older_than_s: float = ORPHAN_GRACE_S) -> list[str]:
    """Write op: remove stored files that no attachment row (nor an open triage item's photo,
    `_referenced`) points at, older than the grace."""
    store = blobs(platform)
    removed = []
    for digest in list(store.names(older_than_s)):
        if not _referenced(repo, digest):
            store.delete(digest)
            removed.append(digest)
    return removed


def copy_files(repo: Any, source: BlobStore, target: BlobStore) -> dict[str, int]:
    """Copy every file an attachment row (or a photo held with a triage item) names from one
    store to another (moving a city's photos from the directory to an S3 bucket, or back).
    Content-addressed: a file already in the target is skipped, so an interrupted copy is
    simply run again."""
    named = repo.conn.execute("SELECT sha256, thumb_sha256 FROM attachments UNION "
                              "SELECT sha256, thumb_sha256 FROM intel_triage_photos")
    digests = sorted({d for row in named for d in row})
    out = {"copied": 0, "present": 0, "missing": 0}
    for digest in digests:
        if target.exists(digest):
            out["present"] += 1
            continue
        data = source.get(digest)
        if data is None:
            out["missing"] += 1
            continue
        target.put(data)
        out["copied"] += 1
    return out


# The photo of a request waiting in triage has no case yet: its row is held with the triage
# item (cityops.intel.photos) and keeps its files for as long as the item is open.
_HELD = ("SELECT 1 FROM intel_triage_photos p JOIN intel_triage t ON t.id = p.triage_id "
         "WHERE t.status = 'open' AND (p.sha256 = ?1 OR p.thumb_sha256 = ?1) LIMIT 1")


def _referenced(repo: Any, digest: str) -> bool:
    return repo.conn.execute(
        "SELECT 1 FROM attachments WHERE sha256 = ?1 OR thumb_sha256 = ?1 LIMIT 1", (digest,)
    ).fetchone() is not None or repo.conn.execute(_HELD, (digest,)).fetchone() is not None or repo.conn.execute(
        # a retrained classifier kept in the blob store on PostgreSQL (cityops.intel.service._save)
        "SELECT 1 FROM intel_models WHERE file = ? LIMIT 1", ("blob:" + digest,)).fetchone() is not None


def row_dict(row: Any, columns: tuple[str, ...] = COLUMNS) -> dict[str, Any]:
    """A database row (attachments, or a held triage photo's `columns`) as a plain dict."""
    out = {k: row[k] for k in columns}
    out["flags"] = orjson.loads(out["flags"])
    out["taken_at"] = from_us(out["taken_at"])
    out["uploaded_at"] = from_us(out["uploaded_at"])
    return out


def _row_of(stored: Stored) -> dict[str, Any]:
    out = dict(stored.__dict__)
    out["flags"] = list(stored.flags)
    return out


def get(repo: Any, attachment_id: str, actor: Actor) -> dict[str, Any]:
    """One attachment the actor may see (scope of its case), or NotFound / Forbidden."""
    row = repo.conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM attachments WHERE id = ?", (attachment_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no attachment {attachment_id}", f"附件 {attachment_id} 不存在")
    cases.get_visible(repo, int(row["case_id"]), actor)
    return row_dict(row)


def for_case(repo: Any, case_id: int) -> list[dict[str, Any]]:
    rows = repo.conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM attachments WHERE case_id = ? ORDER BY uploaded_at, id",
        (case_id,),
    ).fetchall()
    return [row_dict(r) for r in rows]


def public_json(row: dict[str, Any], zone: tzinfo, base: str = "") -> dict[str, Any]:
    """What callers see: no photo coordinates (the EXIF was stripped for a reason); times in the
    city's offset, like every answer (`timefmt.iso`)."""
    return {
        "id": row["id"], "case_id": row["case_id"], "stage": row["stage"],
        "stage_label": list(STAGE_LABELS[row["stage"]]),
        "url": f"{base}/api/v1/attachments/{row['id']}",
        "thumbnail_url": f"{base}/api/v1/attachments/{row['id']}/thumbnail",
        "media_type": row["media_type"], "kind": media_kind(row["media_type"]), "size": row["size"],
        "width": row["width"], "height": row["height"], "duration_s": row.get("duration_s"),
        "taken_at": iso(row["taken_at"], zone),
        "distance_m": None if row["distance_m"] is None else round(row["distance_m"]),
        "flags": row["flags"], "flagged": bool(row["flags"]),
        "uploaded_by": row["uploaded_by"], "uploaded_at": iso(row["uploaded_at"], zone),
    }


def media_kind(media_type: str) -> str:
    return "video" if media_type.startswith("video/") else "image"


def attach_demo_photo(repo: Any, platform: Platform, case_id: int, actor: Actor, now: datetime) -> None:
    """The demo's verifier photographs the site (a generated picture at the case's place)."""
    from zoneinfo import ZoneInfo

    from cityops.field.samples import jpeg

    case = cases.get_visible(repo, case_id, actor)
    # Taken now, at the place: each visit's photo is a new picture, as a real one would be.
    local = now.astimezone(ZoneInfo(platform.city.timezone))
    offset = local.strftime("%z")
    shade = zlib.crc32(f"{case_id} {now.isoformat()}".encode())  # photos are stored by their pixels
    photo = jpeg(lon=case.lon, lat=case.lat, taken=local, offset=f"{offset[:3]}:{offset[3:]}",
                 color=(shade & 0xFF, (shade >> 8) & 0xFF, (shade >> 16) & 0xFF))
    stored = prepare(platform, photo, case, "verify", actor, now)
    record(repo, platform, stored, actor)
