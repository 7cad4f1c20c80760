"""Writing the JSON records of ``mfcore train``, ``evaluate``, ``recommend`` and ``tour``,
and the atomic write that they and :meth:`mfcore.models.base.Recommender.save` share."""
import errno
import json
import math
import os
import stat
import tempfile

import numpy as np


def write_json(path, obj):
    """Write ``obj`` as JSON to ``path`` atomically (temp file, then rename).

    NaN and infinite floats (Python, NumPy scalars or inside arrays) are written
    as ``null``: JSON has no NaN, and ``NaN`` in the file would make it invalid
    JSON for every strict reader. A missing parent folder is created (as
    ``Recommender.save`` does), and the file gets the permissions that
    ``open(path, "w")`` would give it (0o666 less the umask; an existing file
    keeps its own). Returns the path. ValueError for an empty path; an OSError
    naming ``path`` and the fix when the folder cannot be written.
    """
    data = _finite(obj)

    def write(fh):
        json.dump(data, fh, indent=2, default=_json_default, allow_nan=False)
        fh.write("\n")

    return write_atomically(path, write, what="JSON record", suffix=".json", example="results.json")


def check_writable(path, what="file", example="out", probe=False):
    """The checks :func:`write_atomically` makes before it writes, for a caller that wants them
    before a long computation (``mfcore train --save``): ``path`` is not empty, not a folder, and
    the nearest folder on its way that exists is a folder this process may write in.
    ``probe=True`` also creates and removes an empty file there, for what permission bits do not
    tell (``/proc``, a read-only mount). Returns ``(path as a str, its folder)``; raises as
    write_atomically does."""
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise ValueError(f"the path to write the {what} to is empty; pass a file name such as {example}")
    if os.path.isdir(path):
        err = IsADirectoryError(f"cannot write the {what} to {path}: it is a folder; pass a file "
                                f"path, such as {os.path.join(path, example)}")
        err.errno = errno.EISDIR
        raise err
    directory = os.path.dirname(os.path.abspath(path))
    nearest = nearest_existing(directory)
    if not os.path.isdir(nearest):
        err = NotADirectoryError(f"cannot write the {what} to {path}: {nearest} is a file, not a folder; "
                                 "pass another path")
        err.errno = errno.ENOTDIR
        raise err
    if not os.access(nearest, os.W_OK):
        err = PermissionError(f"cannot write the {what} to {path}: this process may not write in the "
                              f"folder {nearest}; pass a path in a folder you can write to")
        err.errno = errno.EACCES
        raise err
    if probe:
        probe_folder(nearest, path, what)
    return path, directory


def nearest_existing(path):
    """``path`` itself if it exists, else the nearest folder above it that does (absolute)."""
    nearest = os.path.abspath(path)
    while not os.path.exists(nearest) and os.path.dirname(nearest) != nearest:
        nearest = os.path.dirname(nearest)
    return nearest


def probe_folder(folder, path, what):
    """Create and remove an empty file in ``folder`` (an existing folder on the way to ``path``);
    the OSError of write_atomically, naming ``path``, when files cannot be created there."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".mfcore-", suffix=".probe", dir=folder)
    except OSError as exc:
        raise _renamed(exc, f"cannot write the {what} to {path}: files cannot be created in the folder "
                            f"{folder} ({_reason(exc)}); pass a path in a folder you can write to") from None
    os.close(fd)
    os.unlink(tmp)


def write_atomically(path, write, *, binary=False, what="file", suffix="", example="out"):
    """Write ``path`` through ``write(fh)`` with nothing half-written on disk: the bytes go
    to a temp file beside it, which is renamed over ``path`` only once complete.

    The parent folder is created when missing. The file gets the permissions a plain
    ``open(path, "w")`` gives (0o666 less the umask, or those of the file it replaces),
    not the 0o600 of the temp file. ``what`` (e.g. "model") and ``example`` (a file name)
    word the errors, which name ``path`` (never the temp file) and say what to do:
    ValueError for an empty path, the OSError the system raised (FileNotFoundError,
    PermissionError, ...) when the folder cannot be made or written. Returns ``path`` as a str.
    """
    path, directory = check_writable(path, what, example)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise _renamed(exc, f"cannot write the {what} to {path}: the folder {directory} does not exist "
                            f"and cannot be created ({_reason(exc)}); create it first, or pass a path "
                            "in a folder you can write to") from None
    mode = _new_file_mode(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".mfcore-", suffix=f"{suffix}.part", dir=directory)
    except OSError as exc:
        raise _renamed(exc, f"cannot write the {what} to {path}: files cannot be created in the folder "
                            f"{directory} ({_reason(exc)}); pass a path in a folder you can write to") from None
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
        os.chmod(tmp, mode)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise _renamed(exc, f"cannot write the {what} to {path} ({_reason(exc)}); pass another "
                                "path") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _renamed(exc, message):
    """An OSError of ``exc``'s class (and errno) with ``message``, which names the user's path."""
    err = type(exc)(message)
    err.errno = exc.errno  # (not strerror: str() would then drop the message)
    return err


def _reason(exc):
    return (exc.strerror or str(exc)).lower()


def _umask():
    """The process's umask, read without changing it where the system tells it (Linux)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic read-and-restore
    os.umask(mask)
    return mask


def _new_file_mode(path):
    """The permission bits ``open(path, "w")`` would leave ``path`` with."""
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    return 0o666 & ~_umask()


def _finite(obj):
    """``obj`` with NaN and infinite floats as None, and NumPy scalars and arrays as Python values."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {(k.item() if isinstance(k, np.generic) else k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _finite(obj.tolist())
    if isinstance(obj, np.generic):
        return _finite(obj.item())
    return obj


def _json_default(o):
    if isinstance(o, np.generic):
        return _finite(o.item())
    if isinstance(o, np.ndarray):
        return _finite(o.tolist())
    if isinstance(o, np.dtype):
        return str(o)
    return str(o)
