"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Each write goes to a temporary name in the same folder (same file system), is flushed to
disk, then renamed over the target with :func:`os.replace`, which is atomic on POSIX and
Windows. A failed write removes its temporary file and leaves the target as it was.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _temp_name(path: Path) -> Path:
    # hidden, unique per writer, and in the target's folder so os.replace never crosses devices
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a library that writes to a file name (e.g.
    xlsxwriter); on success it replaces ``path``, on an exception it is removed."""
    target = Path(path)
    tmp = _temp_name(target)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # the writer closed it: make it durable before the rename
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, payload: bytes) -> Path:
    """Write ``payload`` to ``path`` atomically; returns the path."""
    target = Path(path)
    with atomic_path(target) as tmp, open(tmp, "xb") as f:  # "x": created with the umask's mode
        f.write(payload)
    return target


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_copy(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Copy ``source`` to ``path`` atomically; returns the path."""
    target = Path(path)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return target
