"""Object store behind one small interface: a local folder or S3.

``HTR_STORE_URL`` (``Settings.store_url``) chooses: ``file:///path/to/folder``
(the default is ``./var/store``) or ``s3://bucket/prefix``. S3 uses boto3 with its own
configuration (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` for a
local server such as MinIO or moto).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import urlparse


class StoreError(Exception):
    """A transient or configuration problem talking to the store."""


@runtime_checkable
class Store(Protocol):
    """What the pipeline, the registry and the web app ask of an object store (keys are
    ``/``-separated paths; a missing key raises FileNotFoundError)."""

    url: str

    def put_file(self, key: str, src: str | Path) -> str: ...
    def put_bytes(self, key: str, data: bytes) -> str: ...
    def get_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def list(self, prefix: str = "") -> Iterator[str]: ...
    def local_copy(self, key: str) -> AbstractContextManager[Path]: ...


class LocalStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = f"file://{self.root.resolve()}"

    def _path(self, key: str) -> Path:
        p = (self.root / key).resolve()
        if self.root.resolve() not in p.parents and p != self.root.resolve():
            raise ValueError(f"key escapes the store: {key!r}")
        return p

    def put_file(self, key: str, src: str | Path) -> str:
        dst = self._path(key)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".part")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        return key

    def put_bytes(self, key: str, data: bytes) -> str:
        dst = self._path(key)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, dst)
        return key

    def get_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[str]:
        base = self.root.resolve()
        for p in sorted(base.rglob("*")):
            if p.is_file() and not p.name.endswith(".part"):
                key = p.relative_to(base).as_posix()
                if key.startswith(prefix):
                    yield key

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        yield self._path(key)


class S3Store:
    def __init__(self, bucket: str, prefix: str = "", client=None):
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or boto3.client(
            "s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        )
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, fn, *args, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(str(exc)) from exc
            raise StoreError(str(exc)) from exc
        except BotoCoreError as exc:
            raise StoreError(str(exc)) from exc

    def put_file(self, key: str, src: str | Path) -> str:
        self._call(self.client.upload_file, str(src), self.bucket, self._key(key))
        return key

    def put_bytes(self, key: str, data: bytes) -> str:
        self._call(self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=data)
        return key

    def get_bytes(self, key: str) -> bytes:
        return self._call(self.client.get_object, Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self._call(self.client.head_object, Bucket=self.bucket, Key=self._key(key))
            return True
        except FileNotFoundError:
            return False

    def delete(self, key: str) -> None:
        self._call(self.client.delete_object, Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str = "") -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        full = self._key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        for page in self._call(lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=full))):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:]

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        fd, tmp = tempfile.mkstemp(prefix="htr-", suffix="-" + Path(key).name)
        os.close(fd)
        try:
            self._call(self.client.download_file, self.bucket, self._key(key), tmp)
            yield Path(tmp)
        finally:
            Path(tmp).unlink(missing_ok=True)


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``."""
    u = urlparse(url)
    if u.scheme != "s3" or not u.netloc:
        raise ValueError(f"{url}: s3 URL needs a bucket (s3://bucket/prefix)")
    return u.netloc, u.path.lstrip("/")


def open_store(url: str) -> Store:
    """The store at ``file:///folder``, ``s3://bucket/prefix`` or a plain folder path (``Settings.store_url``)."""
    u = urlparse(url)
    if u.scheme == "file":
        return LocalStore(u.path if not u.netloc else f"/{u.netloc}{u.path}")
    if u.scheme == "s3":
        return S3Store(*split_s3_url(url))
    if u.scheme == "":
        return LocalStore(url)
    raise ValueError(f"unsupported store URL {url!r}: use file:///path or s3://bucket/prefix")


def stored_gray(store: Store, key: str | None):
    """The image stored under ``key`` in gray (a numpy array), or None where there is none."""
    if not key:
        return None
    try:
        data = store.get_bytes(key)
    except FileNotFoundError:
        return None
    import cv2
    import numpy as np

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
