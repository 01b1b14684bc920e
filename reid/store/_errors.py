"""``GalleryError``: the gallery's files cannot be used as they are, said in one line.

Database and file-system failures (a damaged, locked, read-only or missing database, a full disk)
become a ``GalleryError`` whose message names the file and the way to recover, never SQL text or a
driver trace. The CLI prints it as is; the server answers with it.
"""

from __future__ import annotations

import errno
from pathlib import Path

__all__ = ["GalleryError", "database_error", "file_error"]


class GalleryError(RuntimeError):
    """A gallery file is missing, damaged, read-only, locked, or its disk is full.

    ``str(error)`` names the file and the recovery step; it is meant for the operator as is.
    """

    user_facing = True  # app.cli prints it without the "run with -v" hint


_BACKUP_HINT = ("restore {name} (with {name}-wal if you have it) from a backup; or move the data "
                "dir aside (`mv {dir} {dir}.broken`) and index the videos again into a new one "
                "(`reid index ...`); `sqlite3 {db} .recover` may salvage rows")


def database_error(exc: BaseException, db: str | Path, busy_timeout_s: float) -> GalleryError:
    """A ``GalleryError`` for a database failure ``exc`` (SQLAlchemy or sqlite3) on file ``db``.

    Only the driver's short message is kept (e.g. ``database disk image is malformed``), never the
    SQL statement.
    """
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    low = text.lower()
    path = Path(str(db))
    where = f"the gallery database {path}"
    backup = _BACKUP_HINT.format(name=path.name, dir=path.parent, db=path)
    if "locked" in low or "busy" in low:
        msg = (f"{where} is locked by another process (waited {busy_timeout_s:g} s): wait for the "
               "other `reid` command or server to finish, or stop it, then retry")
    elif "readonly" in low or "read-only" in low or "read only" in low:
        msg = (f"{where} is read-only ({text}): searching works, but indexing, deleting, "
               "re-indexing and feedback need write access to the data dir and its files "
               "(fix the owner or permissions, e.g. `chown -R $USER DIR`)")
    elif "malformed" in low or "not a database" in low or "encrypted" in low or "corrupt" in low:
        msg = f"{where} is damaged ({text}): {backup}"
    elif "full" in low:
        msg = f"no space left for {where} ({text}): free disk space, then retry"
    elif "disk i/o" in low or "i/o error" in low:
        msg = (f"disk I/O error on {where} ({text}): the file may be truncated, or the disk is "
               f"failing (see `dmesg`); {backup}")
    elif "unable to open" in low:
        msg = (f"cannot open {where} ({text}): check that it is a file and that its folder is "
               "readable and writable by this user")
    else:
        msg = f"{where} failed ({text}); if this persists, {backup}"
    return GalleryError(msg)


def file_error(exc: OSError, path: str | Path, doing: str) -> GalleryError:
    """A ``GalleryError`` for an ``OSError`` while ``doing`` (e.g. ``"writing"``) ``path``."""
    code = exc.errno
    reason = exc.strerror or str(exc)
    if code in (errno.ENOSPC, errno.EDQUOT):
        fix = "free disk space, then retry"
    elif code in (errno.EROFS, errno.EACCES, errno.EPERM):
        fix = ("the data dir is read-only for this user: searching works, but writing needs write "
               "access (fix the owner or permissions)")
    else:
        fix = "check the disk and the file's permissions, then retry"
    return GalleryError(f"error {doing} {path}: {reason}; {fix}")
