"""Extract files in S3-compatible object storage (AWS S3, MinIO, Ceph, …) through boto3.

Settings: ``TENANTRY_EXTRACT_S3_BUCKET``, ``…_PREFIX`` and ``…_ENDPOINT_URL`` (empty for AWS itself);
credentials come from boto3's own chain (``AWS_ACCESS_KEY_ID``, instance roles, …), never from Tenantry.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

from app.config import Settings

SPOOL = 8 * 1024 * 1024  # a file is buffered in memory up to this, then on disk, before it is uploaded


class S3Storage:
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        import boto3

        if not settings.extract_s3_bucket:
            raise RuntimeError("TENANTRY_EXTRACT_STORAGE=s3 needs TENANTRY_EXTRACT_S3_BUCKET")
        client = boto3.client("s3", endpoint_url=settings.extract_s3_endpoint_url or None)
        return cls(client, settings.extract_s3_bucket, settings.extract_s3_prefix)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def write(self, key: str, chunks: Iterable[bytes]) -> None:
        # S3 objects appear whole on completion (single PUT or multipart), so readers never see half.
        with tempfile.SpooledTemporaryFile(max_size=SPOOL) as buf:
            for chunk in chunks:
                buf.write(chunk)
            buf.seek(0)
            self.client.upload_fileobj(buf, self.bucket, self._key(key))

    def read(self, key: str) -> Iterator[bytes]:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(key) from None
        yield from obj["Body"].iter_chunks(1024 * 1024)

    def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix).rstrip("/") + "/"
        )
        for page in pages:
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
        return deleted
