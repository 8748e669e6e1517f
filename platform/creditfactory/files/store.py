"""The file store: put/get/delete/exists by key, content addressed by SHA-256 under a per-tenant prefix.

A file's key is ``<tenant slug>/sha256/<first two hex digits>/<sha256>``: the same bytes uploaded twice in one bank
are stored once, and two banks never share a key (a bank's files can be listed, exported or deleted by prefix).
The key says nothing about the file's owner or type; the database rows that refer to it do.

Stores are chosen by URL in the ``file_store_url`` setting:

* empty (default): a local directory, ``<data_dir>/files``;
* ``file:///srv/creditfactory/files``: a local directory;
* ``s3://bucket/prefix?endpoint=https://minio.example:9000&region=cn-north-1``: an S3-compatible object store
  (needs ``boto3``: ``pip install creditfactory[s3]``); credentials come from the usual AWS environment
  variables or files, never from the URL.
"""

from __future__ import annotations

import abc
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from .. import settings as settings_module

_SLUG_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}/sha256/[0-9a-f]{2}/[0-9a-f]{64}$")


class FileStoreError(RuntimeError):
    """The store failed or was misconfigured (not the caller's input)."""


class FileNotStored(KeyError):
    """No file under that key."""


class IntegrityError(FileStoreError):
    """The bytes under a key no longer hash to the key: altered or damaged in the store."""


@dataclass(frozen=True)
class StoredFile:
    """Where ``put`` left a file: its ``key``, ``sha256`` (hex) and ``size`` in bytes."""

    key: str
    sha256: str
    size: int


def key_for(tenant_slug: str, sha256: str) -> str:
    """The key of the file with hex digest ``sha256`` in tenant ``tenant_slug``'s prefix."""
    if not _SLUG_RE.match(tenant_slug):
        raise ValueError(f"not a tenant slug: {tenant_slug!r}")
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("sha256 must be 64 lower-case hex digits")
    return f"{tenant_slug}/sha256/{sha256[:2]}/{sha256}"


def check_key(key: str) -> str:
    """``key`` if it has the shape ``key_for`` makes; ``ValueError`` otherwise (no path tricks reach a store)."""
    if not _KEY_RE.match(key or ""):
        raise ValueError(f"not a file store key: {key!r}")
    return key


def tenant_of_key(key: str) -> str:
    return check_key(key).split("/", 1)[0]


class FileStore(abc.ABC):
    """What every store offers. Keys come from ``put`` (or ``key_for``); callers never invent paths."""

    def put(self, tenant_slug: str, data: bytes) -> StoredFile:
        """Store ``data`` in ``tenant_slug``'s prefix under its SHA-256 and return where; storing the same
        bytes again writes nothing new and returns the same key."""
        digest = hashlib.sha256(data).hexdigest()
        key = key_for(tenant_slug, digest)
        if not self.exists(key):
            self._write(key, data)
        return StoredFile(key, digest, len(data))

    def get(self, key: str) -> bytes:
        """The bytes under ``key`` (``FileNotStored`` if none), checked against the digest the key names."""
        data = self._read(check_key(key))
        if hashlib.sha256(data).hexdigest() != key.rsplit("/", 1)[1]:
            raise IntegrityError(f"file {key} does not match its SHA-256: altered or damaged in the store")
        return data

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a file is stored under ``key``."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the file under ``key``; removing a missing file is not an error."""

    @abc.abstractmethod
    def _write(self, key: str, data: bytes) -> None: ...

    @abc.abstractmethod
    def _read(self, key: str) -> bytes: ...


class LocalFileStore(FileStore):
    """Files under a local directory (the default: ``<data_dir>/files``), written atomically, mode 0600."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalFileStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def _write(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Written aside and renamed: a reader never sees half a file under a key.
        aside = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(aside, path)
        finally:
            aside.unlink(missing_ok=True)

    def _read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise FileNotStored(key) from None


class S3FileStore(FileStore):
    """Files in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Alibaba OSS / Tencent COS S3 endpoints)."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint: str | None = None, region: str | None = None,
                 client=None) -> None:
        if client is None:
            try:
                import boto3
            except ImportError:  # pragma: no cover - depends on the installation
                raise FileStoreError("file_store_url names an s3:// store but boto3 is not installed "
                                     "(pip install 'creditfactory[s3]')") from None
            client = boto3.client("s3", endpoint_url=endpoint, region_name=region)
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def __repr__(self) -> str:
        return f"S3FileStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _object(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @staticmethod
    def _missing(error) -> bool:
        code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
        return code in {"404", "NoSuchKey", "NotFound"}

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object(key))
        except ClientError as error:
            if self._missing(error):
                return False
            raise FileStoreError(f"S3 head_object failed for {key}: {error}") from None
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._object(key))

    def _write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._object(key), Body=data,
                               ContentType="application/octet-stream")

    def _read(self, key: str) -> bytes:
        from botocore.exceptions import ClientError
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._object(key))["Body"].read()
        except ClientError as error:
            if self._missing(error):
                raise FileNotStored(key) from None
            raise FileStoreError(f"S3 get_object failed for {key}: {error}") from None


def store_from_url(url: str, settings: settings_module.Settings | None = None) -> FileStore:
    """The store a ``file_store_url`` names (empty: ``<data_dir>/files``); ``FileStoreError`` for a bad URL."""
    settings = settings or settings_module.get()
    if not url:
        return LocalFileStore(Path(settings.data_dir) / "files")
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise FileStoreError(f"file_store_url {url!r}: use file:///absolute/path")
        return LocalFileStore(unquote(parts.path))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise FileStoreError(f"file_store_url {url!r}: name a bucket, s3://bucket/prefix")
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        unknown = set(query) - {"endpoint", "region"}
        if unknown:
            raise FileStoreError(f"file_store_url: unknown parameter(s) {sorted(unknown)}; use endpoint, region")
        return S3FileStore(parts.netloc, unquote(parts.path), endpoint=query.get("endpoint"),
                           region=query.get("region"))
    raise FileStoreError(f"file_store_url {url!r}: scheme must be file:// or s3://")


_stores: dict[tuple[str, str], FileStore] = {}


def file_store() -> FileStore:
    """The configured store, one per (URL, data dir) for the process."""
    settings = settings_module.get()
    cache_key = (settings.file_store_url, settings.data_dir)
    if cache_key not in _stores:
        _stores[cache_key] = store_from_url(settings.file_store_url, settings)
    return _stores[cache_key]
