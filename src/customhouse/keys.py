"""Key files created at first use, like an SSH host key: mode 600, in a directory of mode 700.

The new key is written to a temporary file and hard-linked into place, so that two processes starting
at once agree on one key (the loser reads the winner's) and nobody ever reads a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def load_or_create(path: Path, create: Callable[[], bytes]) -> bytes:
    """The bytes of the key file at `path`, created with `create()` if there is none yet."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".new-")  # mode 600
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(create())
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):  # another process won the race: use its key
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return path.read_bytes()
