"""Where extract files live: an interface, a local directory (default), S3-compatible object storage."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from app.config import Settings

CHUNK = 1024 * 1024


class ExtractStorage(Protocol):
    def write(self, key: str, chunks: Iterable[bytes]) -> None:
        """Store ``key`` whole (replacing it): readers never see half a file."""
        ...

    def read(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks; ``FileNotFoundError`` when it does not exist."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix/``; returns how many."""
        ...


class LocalStorage:
    """A directory (``TENANTRY_EXTRACT_DIR``); keys are relative paths under it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"storage key escapes the root: {key!r}")
        return path

    def write(self, key: str, chunks: Iterable[bytes]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        tmp.replace(path)  # atomic: a killed writer leaves the old object or none

    def read(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    def delete_prefix(self, prefix: str) -> int:
        base = self._path(prefix)
        if not base.exists():
            return 0
        files = sorted((p for p in base.rglob("*") if p.is_file()), reverse=True)
        for p in files:
            p.unlink()
        for d in sorted((p for p in base.rglob("*") if p.is_dir()), reverse=True):
            d.rmdir()
        base.rmdir()
        return len(files)


def storage_from_settings(settings: Settings) -> ExtractStorage:
    if settings.extract_storage == "s3":
        from app.extracts.s3 import S3Storage  # boto3 only when S3 is chosen

        return S3Storage.from_settings(settings)
    return LocalStorage(settings.extract_dir or settings.instance_path / "extracts")
