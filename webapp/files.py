"""Atomic file writes, for the photo store and the .eml outbox alike."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one,
    never half of it (temporary file in the same folder, fsync, rename). ``mode`` sets the
    permission bits (e.g. 0o640). Returns ``path``. Raises :class:`OSError` (disk full, ...);
    the temporary file is removed then."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
