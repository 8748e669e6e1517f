"""The file store: content addressing, tenant prefixes, integrity, key checks and store selection by URL.

The S3 store is not exercised here: this machine has no S3-compatible server to run it against (see
docs/customers.md#file-store), and a mocked S3 would test the mock.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from creditfactory import settings as settings_module
from creditfactory.files.sniff import sniff
from creditfactory.files.store import (FileNotStored, FileStoreError, IntegrityError, LocalFileStore, S3FileStore,
                                       check_key, key_for, store_from_url)


def test_put_is_content_addressed_per_tenant(tmp_path):
    store = LocalFileStore(tmp_path)
    data = b"%PDF-1.7 contract"
    digest = hashlib.sha256(data).hexdigest()
    first = store.put("puer", data)
    assert first.key == f"puer/sha256/{digest[:2]}/{digest}" and first.sha256 == digest and first.size == len(data)
    assert store.put("puer", data) == first
    # Another bank's copy of the same bytes is its own file.
    assert store.put("lincang", data).key == f"lincang/sha256/{digest[:2]}/{digest}"
    assert store.exists(first.key) and store.get(first.key) == data
    assert oct((tmp_path / first.key).stat().st_mode & 0o777) == "0o600"
    store.delete(first.key)
    store.delete(first.key)
    assert not store.exists(first.key)
    with pytest.raises(FileNotStored):
        store.get(first.key)
    assert store.get(key_for("lincang", digest)) == data


def test_altered_bytes_are_detected_on_read(tmp_path):
    store = LocalFileStore(tmp_path)
    stored = store.put("puer", b"\x89PNG\r\n\x1a\noriginal")
    (tmp_path / stored.key).write_bytes(b"\x89PNG\r\n\x1a\nswapped")
    with pytest.raises(IntegrityError):
        store.get(stored.key)


@pytest.mark.parametrize("key", ["../etc/passwd", "puer/sha256/ab/../../x", "/abs/sha256/00/" + "0" * 64,
                                 "Puer/sha256/00/" + "0" * 64, "puer/sha256/11/" + "0" * 63, ""])
def test_keys_that_are_not_store_keys_are_refused(tmp_path, key):
    with pytest.raises(ValueError):
        check_key(key)
    with pytest.raises(ValueError):
        LocalFileStore(tmp_path).exists(key)


def test_store_selected_by_url(tmp_path):
    settings = settings_module.Settings(data_dir=str(tmp_path))
    default = store_from_url("", settings)
    assert isinstance(default, LocalFileStore) and default.root == tmp_path / "files"
    assert store_from_url(f"file://{tmp_path}/x", settings).root == tmp_path / "x"
    s3 = store_from_url("s3://cf-files/prod/docs?endpoint=http://127.0.0.1:9000&region=cn-north-1", settings)
    assert isinstance(s3, S3FileStore) and (s3.bucket, s3.prefix) == ("cf-files", "prod/docs")
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:9000" and s3.client.meta.region_name == "cn-north-1"
    assert s3._object(key_for("puer", "0" * 64)) == "prod/docs/puer/sha256/00/" + "0" * 64
    for bad in ("ftp://host/x", "s3:///prefix", "s3://bucket?secret=1", "file://host/x"):
        with pytest.raises(FileStoreError):
            store_from_url(bad, settings)


def test_the_setting_is_validated():
    with pytest.raises(settings_module.SettingsError, match="FILE_STORE_URL"):
        settings_module.validate(settings_module.Settings(file_store_url="ftp://x"))


@pytest.mark.parametrize("head, expected", [
    (b"\xff\xd8\xff\xe0", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"\x00\x00\x00\x18ftypheic", "image/heic"), (b"%PDF-1.4", "application/pdf"), (b"GIF89a", None),
    (b"<svg xmlns=", None), (b"PK\x03\x04", None),
])
def test_sniffing(head, expected):
    assert sniff(head + os.urandom(8)) == expected
