"""Reading the checker's untrusted input files: regular files only, never more than a cap."""
from __future__ import annotations

import os
import stat

from checker.errors import Malformed


def read_file(path: str, limit: int, what: str, cap: type[Exception] = Malformed) -> bytes:
    """The bytes of the regular file `path`, refused (`cap`) if longer than `limit` bytes.

    Opened non-blocking, so a FIFO, terminal or device (/dev/stdin, /dev/zero) is refused at once
    after fstat instead of blocking or streaming; at most limit + 1 bytes are ever read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except (OSError, ValueError) as e:  # ValueError: NUL byte, or a name the file system cannot encode
        raise Malformed(f"cannot read {what} {path!r}: {getattr(e, 'strerror', None) or e}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Malformed(f"cannot read {what} {path!r}: not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise Malformed(f"cannot read {what} {path!r}: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise cap(f"{what} file larger than the cap of {limit:,} bytes")
    return data
