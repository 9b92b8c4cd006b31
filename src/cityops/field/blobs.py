"""Content-addressed file storage for photos: a directory next to the database by default.

A blob is named by the SHA-256 of its bytes, so the same picture is stored once and a name can
never point at other content. A write goes to a temporary file in the same directory, is
fsynced, then renamed into place (atomic on POSIX) and the directory fsynced: a crash leaves
either no file or the whole file, never half of one. Files no row points at (a refused or
crashed upload) are removed by `cleanup_orphans`.

`BlobStore` is the small interface both back ends implement (put, get, exists, delete,
names): `DirectoryBlobs` (the default) and `S3Blobs`, an S3-compatible object store (AWS S3,
MinIO, Ceph RGW, OSS/COS/OBS in S3 mode) chosen by the server's environment
(`$CITYOPS_BLOB_STORE=s3`, see `S3Config.from_env`). An S3 PUT is atomic, so the object store
needs no temporary names; a store that cannot be reached is `BlobStoreUnavailable` (503).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cityops.errors import StorageUnavailable


class BlobStore(Protocol):
    def put(self, data: bytes) -> str: ...

    def get(self, digest: str) -> bytes | None: ...

    def exists(self, digest: str) -> bool: ...

    def delete(self, digest: str) -> None: ...

    def names(self, older_than_s: float = 0) -> Iterator[str]: ...


class BlobStoreUnavailable(StorageUnavailable):
    """The object store refused or could not be reached: nothing was stored (503, retry)."""


def _valid(digest: str) -> bool:
    return len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)


class DirectoryBlobs:
    """Blobs as files `<root>/<first two hex digits>/<sha256>`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        if not _valid(digest):
            raise ValueError(f"not a SHA-256 digest: {digest!r}")
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        final = self.path(digest)
        if final.exists():
            return digest
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=final.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return digest

    def get(self, digest: str) -> bytes | None:
        try:
            return self.path(digest).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    def exists(self, digest: str) -> bool:
        return _valid(digest) and self.path(digest).exists()

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(digest).unlink()

    def names(self, older_than_s: float = 0) -> Iterator[str]:
        """Stored digests (and stale temporary files' names) modified over `older_than_s` ago."""
        if not self.root.exists():
            return
        cutoff = time.time() - older_than_s
        for sub in self.root.iterdir():
            if not sub.is_dir():
                continue
            for f in sub.iterdir():
                if f.stat().st_mtime > cutoff:
                    continue
                if f.name.startswith(".tmp-"):
                    f.unlink(missing_ok=True)  # a write that died before its rename
                elif _valid(f.name):
                    yield f.name


@dataclass(frozen=True)
class S3Config:
    """Where an S3-compatible store is: the server's environment, never the database (it
    holds a secret). Credentials: `$CITYOPS_S3_ACCESS_KEY_ID` / `$CITYOPS_S3_SECRET_ACCESS_KEY`,
    else the usual AWS chain (`$AWS_ACCESS_KEY_ID`, `~/.aws/credentials`, an instance role)."""

    bucket: str
    endpoint_url: str | None = None  # None: AWS itself; e.g. http://127.0.0.1:9000 for MinIO
    region: str = "us-east-1"
    prefix: str = ""  # keys are <prefix><ab>/<sha256>; e.g. "wuhan/attachments/"
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)  # never in a log line
    path_style: bool = True  # MinIO and most on-premises stores want path-style URLs

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> S3Config:
        env = dict(os.environ) if env is None else env
        bucket = env.get("CITYOPS_S3_BUCKET", "").strip()
        if not bucket:
            raise BlobStoreUnavailable("the server sets CITYOPS_BLOB_STORE=s3 without CITYOPS_S3_BUCKET",
                                       "服务器配置了对象存储（CITYOPS_BLOB_STORE=s3）但未设置存储桶 CITYOPS_S3_BUCKET")
        prefix = env.get("CITYOPS_S3_PREFIX", "").strip().lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(
            bucket=bucket, endpoint_url=env.get("CITYOPS_S3_ENDPOINT_URL") or None,
            region=env.get("CITYOPS_S3_REGION") or "us-east-1", prefix=prefix,
            access_key_id=env.get("CITYOPS_S3_ACCESS_KEY_ID") or None,
            secret_access_key=env.get("CITYOPS_S3_SECRET_ACCESS_KEY") or None,
            path_style=env.get("CITYOPS_S3_ADDRESSING", "path") != "virtual",
        )


@functools.lru_cache(maxsize=8)
def _s3_client(config: S3Config) -> Any:
    """One client per configuration (botocore clients are thread-safe and slow to build)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3", endpoint_url=config.endpoint_url, region_name=config.region,
        aws_access_key_id=config.access_key_id, aws_secret_access_key=config.secret_access_key,
        # Checksums only where S3 requires them: many S3-compatible stores refuse the newer
        # CRC headers; the PUT carries a Content-MD5 the store verifies instead.
        config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"},
                      s3={"addressing_style": "path" if config.path_style else "virtual"},
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"),
    )


class S3Blobs:
    """Blobs as objects `<prefix><first two hex digits>/<sha256>` in one bucket."""

    def __init__(self, config: S3Config, client: Any = None) -> None:
        self.config = config
        self.client = client if client is not None else _s3_client(config)

    def key(self, digest: str) -> str:
        if not _valid(digest):
            raise ValueError(f"not a SHA-256 digest: {digest!r}")
        return f"{self.config.prefix}{digest[:2]}/{digest}"

    @contextlib.contextmanager
    def _reachable(self, doing: str) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (BotoCoreError, ClientError) as exc:
            raise BlobStoreUnavailable(
                f"the object store cannot {doing} now ({type(exc).__name__}); nothing was stored, retry later",
                f"对象存储暂不可用（{doing}），未保存任何内容，请稍后重试",
            ) from exc

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if self.exists(digest):
            return digest  # content-addressed: the same bytes are already there
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        with self._reachable("store the file"):
            # The store checks the body against Content-MD5: a corrupted transfer is refused.
            self.client.put_object(Bucket=self.config.bucket, Key=self.key(digest), Body=data, ContentMD5=md5)
        return digest

    def get(self, digest: str) -> bytes | None:
        if not _valid(digest):
            return None
        from botocore.exceptions import ClientError

        with self._reachable("read the file"):
            try:
                answer = self.client.get_object(Bucket=self.config.bucket, Key=self.key(digest))
            except ClientError as exc:
                if _missing(exc):
                    return None
                raise
            return answer["Body"].read()  # type: ignore[no-any-return]

    def exists(self, digest: str) -> bool:
        if not _valid(digest):
            return False
        from botocore.exceptions import ClientError

        with self._reachable("look the file up"):
            try:
                self.client.head_object(Bucket=self.config.bucket, Key=self.key(digest))
            except ClientError as exc:
                if _missing(exc):
                    return False
                raise
        return True

    def delete(self, digest: str) -> None:
        with self._reachable("delete the file"):
            self.client.delete_object(Bucket=self.config.bucket, Key=self.key(digest))

    def names(self, older_than_s: float = 0) -> Iterator[str]:
        """Stored digests whose objects were written over `older_than_s` ago."""
        cutoff = time.time() - older_than_s
        with self._reachable("list the files"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.config.bucket, Prefix=self.config.prefix)
            for page in pages:
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(self.config.prefix):].rpartition("/")[2]
                    if _valid(name) and (older_than_s <= 0 or obj["LastModified"].timestamp() <= cutoff):
                        yield name


def _missing(exc: Any) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound")


class DatabaseBlobs:
    """Blobs in the database itself (table `blob`): PostgreSQL's default, where several servers
    on several hosts share one store and no host's disk holds what another must serve. The row
    is committed before `put` returns, so an acknowledged photo is as durable as its case."""

    def __init__(self, db: str) -> None:
        self.db = db

    def _conn(self) -> Any:
        from cityops.store.dialect import PgConnection

        return PgConnection(self.db)

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        with self._conn() as conn:
            conn.execute("INSERT INTO blob (digest, data, created_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING",
                         (digest, data, int(time.time() * 1e6)))
        return digest

    def get(self, digest: str) -> bytes | None:
        if not _valid(digest):
            return None
        with self._conn() as conn:
            row = conn.execute("SELECT data FROM blob WHERE digest = ?", (digest,)).fetchone()
        return bytes(row[0]) if row else None

    def exists(self, digest: str) -> bool:
        if not _valid(digest):
            return False
        with self._conn() as conn:
            return conn.execute("SELECT 1 FROM blob WHERE digest = ?", (digest,)).fetchone() is not None

    def delete(self, digest: str) -> None:
        with self._conn() as conn:
            conn.execute("DELETE FROM blob WHERE digest = ?", (digest,))

    def names(self, older_than_s: float = 0) -> Iterator[str]:
        cutoff = int((time.time() - older_than_s) * 1e6)
        with self._conn() as conn:
            rows = conn.execute("SELECT digest FROM blob WHERE created_at <= ?", (cutoff,)).fetchall()
        yield from (r[0] for r in rows)


def directory_for(db_path: str | Path) -> DirectoryBlobs:
    """The directory store: `$CITYOPS_FILES_DIR`, else `<database>.files/` beside the database
    file (so two databases in one directory never share, and never clean up, each other's photos)."""
    override = os.environ.get("CITYOPS_FILES_DIR")
    if override:
        return DirectoryBlobs(override)
    return DirectoryBlobs(str(db_path) + ".files")


def blobs_for(db_path: str | Path) -> BlobStore:
    """The store this server uses: `$CITYOPS_BLOB_STORE` = `directory` (SQLite's default), `s3`,
    or `database` (PostgreSQL's default: every server shares it)."""
    from cityops.store.dialect import is_postgres

    default = "database" if is_postgres(db_path) else "directory"
    kind = os.environ.get("CITYOPS_BLOB_STORE", default).strip().lower() or default
    if kind == "s3":
        return S3Blobs(S3Config.from_env())
    if kind == "database" and is_postgres(db_path):
        return DatabaseBlobs(str(db_path))
    if kind != "directory" or is_postgres(db_path) and not os.environ.get("CITYOPS_FILES_DIR"):
        raise BlobStoreUnavailable(
            f"the server's CITYOPS_BLOB_STORE must be 'directory' (with CITYOPS_FILES_DIR on PostgreSQL), 's3' "
            f"or, on PostgreSQL, 'database'; not {kind!r}",
            "服务器配置错误：CITYOPS_BLOB_STORE 只能是 directory（PostgreSQL 需同时设置 CITYOPS_FILES_DIR）、s3 或 database")
    return directory_for(db_path)
