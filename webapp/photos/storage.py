"""Where photo files live: a small storage interface and a registry chosen by configuration.

Modelled on CTFd's upload registry (``CTFd/utils/uploads/__init__.py``): backends are
registered by name and ``MEDIA_STORAGE`` (default ``"filesystem"``) picks one, so an S3 backend
can be added later with ``register_storage("s3", factory)`` and a config change, without
touching the code that stores or serves photos.

Keys are relative POSIX paths such as ``"original/ab/abcdef....heic"``.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Callable

from flask import current_app

from webapp.files import atomic_write


class StorageUnavailable(RuntimeError):
    """The photo store cannot take files now (read-only, full, missing): an operator's problem,
    not the resident's. Views answer 503; the original :class:`OSError` is the ``__cause__``."""


class FileStorage:
    """Files under one root folder (``MEDIA_ROOT``).

    ``put`` is atomic (a temporary file in the target folder, fsync, ``os.replace``), so a
    reader never sees half a file and a crash leaves either the old file or the new one.
    Writing the same key again replaces it, so retries are harmless. Keys that would escape the
    root (absolute, ``..``, backslashes, NUL) raise ``ValueError``.
    """

    def __init__(self, root):
        self.root = Path(root).resolve()

    def path(self, key: str) -> Path:
        """Absolute path of ``key``; ``ValueError`` when the key is malformed or leaves the root."""
        if not isinstance(key, str) or not key or "\\" in key or "\x00" in key:
            raise ValueError(f"invalid storage key: {key!r}")
        pure = PurePosixPath(key)
        if pure.is_absolute() or any(part in ("..", ".", "") for part in key.split("/")):
            raise ValueError(f"invalid storage key: {key!r}")
        path = (self.root / pure).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"storage key escapes the root: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically, creating folders as needed.

        Raises :class:`StorageUnavailable` when the folder cannot be written (read-only, disk
        full, permissions), and ``ValueError`` for a malformed key."""
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, data, mode=0o640)
        except OSError as e:
            raise StorageUnavailable(f"cannot write {key}: {e}") from e

    def check_writable(self) -> None:
        """Write and remove one byte in the root, the cheapest proof that ``put`` can work.

        Raises :class:`StorageUnavailable` otherwise (for ``/healthz``)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".healthz-")
            try:
                os.write(fd, b"\0")
            finally:
                os.close(fd)
                os.unlink(tmp)
        except OSError as e:
            raise StorageUnavailable(f"{self.root} is not writable: {e}") from e

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``; ``FileNotFoundError`` when there are none."""
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        """Whether a file is stored under ``key``."""
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing file is not an error. Content-addressed keys can be shared
        by several photos: the caller checks no other row refers to the key."""
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            pass


# name -> factory(app config) -> storage object with put/get/path/exists/delete
STORAGE_BACKENDS: dict[str, Callable[[dict], FileStorage]] = {
    "filesystem": lambda config: FileStorage(config["MEDIA_ROOT"]),
}


def register_storage(name: str, factory: Callable[[dict], object]) -> None:
    """Make a backend available as ``MEDIA_STORAGE = name``; ``factory(config)`` builds it."""
    STORAGE_BACKENDS[name] = factory


def get_storage() -> FileStorage:
    """The storage of the current app (``MEDIA_STORAGE``, default ``"filesystem"`` under
    ``MEDIA_ROOT``). Built once per app. Raises ``KeyError`` for an unknown backend name."""
    app = current_app._get_current_object()
    cached = app.extensions.get("photo_storage")
    if cached is None:
        name = app.config.get("MEDIA_STORAGE") or "filesystem"
        if name not in STORAGE_BACKENDS:
            raise KeyError(f"MEDIA_STORAGE: unknown storage backend {name!r}; "
                           f"known: {', '.join(sorted(STORAGE_BACKENDS))}")
        cached = app.extensions["photo_storage"] = STORAGE_BACKENDS[name](app.config)
    return cached


def photo_keys(sha256: str, extension: str) -> dict[str, str]:
    """Storage keys of one photo, content-addressed by the original's sha256 (hex).

    Returns ``{"original": "original/ab/<sha>.<ext>", "public": "public/ab/<sha>.jpg",
    "thumb": "thumb/ab/<sha>.jpg"}``; the same bytes always give the same keys, so a retried
    upload rewrites the same files.
    """
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("sha256 must be 64 lower-case hex digits")
    prefix = sha256[:2]
    return {
        "original": f"original/{prefix}/{sha256}.{extension}",
        "public": f"public/{prefix}/{sha256}.jpg",
        "thumb": f"thumb/{prefix}/{sha256}.jpg",
    }
