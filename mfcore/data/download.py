"""Download a MovieLens archive from GroupLens, check it, and unpack it into a cache folder.

``fetch("ml-100k")`` gives ``~/.cache/mfcore/ml-100k`` (or ``$MFCORE_CACHE/ml-100k``)
holding ``u.data`` and friends. The steps are all-or-nothing:

1. stream the zip to ``<cache>/<name>.*.zip.part`` while hashing it;
2. compare the hash with the published checksum (a mismatch deletes the file
   and raises :class:`~mfcore.exceptions.ChecksumError`);
3. unpack into a temporary folder inside the cache and rename it to
   ``<cache>/<name>`` in one step.

A failure at any step leaves nothing behind, and an existing ``<cache>/<name>``
is reused without a download unless ``force=True``. Only :mod:`urllib` is used.

Notes
-----
GroupLens updates ``ml-latest`` over time, so it has no fixed checksum and is
fetched only with ``verify=False``. ``ml-latest-small`` is checked against the
September 2018 archive (100,836 ratings), which is newer than the 2016 copy
(100,004 ratings) bundled with mfcore.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..exceptions import ChecksumError, DataError

BASE_URL = "https://files.grouplens.org/datasets/movielens/"
_urlopen = urllib.request.urlopen  # tests replace this with an in-process fake
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Archive:
    """A downloadable archive: its file, the folder inside it, size and checksums."""

    file: str
    folder: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None

    @property
    def url(self):
        return BASE_URL + self.file


# Checksums are copied from public sources, never computed here:
# * sha256 and sizes: tensorflow/datasets, tensorflow_datasets/url_checksums/movielens.txt;
# * md5: the values GroupLens publishes as <name>.zip.md5, as hard-coded in
#   eli-osherovich/papers_with_code, datasets/movielens/dl_config.py.
ARCHIVES = {
    "ml-100k": Archive("ml-100k.zip", "ml-100k", 4_924_029,
                       "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
                       "0e33842e24a9c977be4e0107933c0723"),
    "ml-1m": Archive("ml-1m.zip", "ml-1m", 5_917_549,
                     "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
                     "c4d9eecfca2ab87c1945afe126590906"),
    "ml-10m": Archive("ml-10m.zip", "ml-10M100K", None, None,
                      "ce571fd55effeba0271552578f2648bd"),
    "ml-20m": Archive("ml-20m.zip", "ml-20m", 198_702_078,
                      "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
                      "cd245b17a1ae2cc31bb14903e1204af3"),
    "ml-25m": Archive("ml-25m.zip", "ml-25m", 261_978_986,
                      "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
                      "6b51fb2759a8657d3bfcbfc42b592ada"),
    "ml-latest-small": Archive("ml-latest-small.zip", "ml-latest-small", 978_202,
                               "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"),
    "ml-latest": Archive("ml-latest.zip", "ml-latest"),  # changes over time: no checksum
}


def default_cache_dir():
    """``$MFCORE_CACHE`` if set, else ``~/.cache/mfcore``."""
    env = os.environ.get("MFCORE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mfcore"


def _download(archive, dest, quiet):
    """Stream ``archive.url`` into the open binary file ``dest``; return (sha256, md5) hex."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    if not quiet:
        size = f" ({archive.size / 2**20:.1f} MB)" if archive.size else ""
        print(f"downloading {archive.url}{size}", file=sys.stderr)
    try:
        response = _urlopen(archive.url, timeout=60)
    except OSError as exc:  # urllib's URLError, a timeout, a refused connection
        raise _network_error(archive, exc) from exc
    with response:
        while True:
            try:
                block = response.read(_BLOCK)
            except OSError as exc:  # the connection dropped part-way
                raise _network_error(archive, exc) from exc
            if not block:
                break
            sha.update(block)
            md5.update(block)
            dest.write(block)  # (a full disk is the system's OSError, naming the file)
    return sha.hexdigest(), md5.hexdigest()


def _network_error(archive, exc):
    """A ConnectionError saying what failed and the two ways on."""
    reason = getattr(exc, "reason", None) or exc.strerror or exc
    return ConnectionError(f"cannot download {archive.url} ({reason}); check the network connection and "
                           "retry, or download the archive by hand, unpack it and give its folder (--data "
                           "FOLDER, or put it under $MFCORE_DATA_DIR)")


def _verify(archive, sha, md5, part):
    """Raise ChecksumError (after deleting ``part``) unless the hashes match."""
    if archive.sha256 is not None:
        kind, expected, got = "SHA-256", archive.sha256, sha
    else:
        kind, expected, got = "MD5", archive.md5, md5
    if got != expected:
        part.unlink(missing_ok=True)
        raise ChecksumError(
            f"{archive.url}: {kind} checksum mismatch: expected {expected}, got {got}. The "
            "downloaded file was deleted. Retry (the download may have been cut short); if it "
            "fails again, GroupLens may have changed the archive: please report it")


def _extract(zip_path, into):
    """Unpack ``zip_path`` into the folder ``into``, refusing paths that escape it."""
    try:
        with zipfile.ZipFile(zip_path) as z:
            for member in z.namelist():
                parts = PurePosixPath(member).parts
                if member.startswith(("/", "\\")) or ".." in parts:
                    raise DataError(f"{zip_path}: unsafe path {member!r} in the archive")
            z.extractall(into)
    except zipfile.BadZipFile as exc:
        raise DataError(f"the download is not a zip archive ({exc}); retry later") from exc
    entries = list(Path(into).iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else Path(into)


def fetch(name, cache_dir=None, force=False, verify=True, quiet=False):
    """Download, verify and unpack a MovieLens dataset; return its folder.

    Parameters
    ----------
    name : str
        One of ``ARCHIVES``: "ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m",
        "ml-latest-small", "ml-latest".
    cache_dir : str or path-like, optional
        Where datasets are kept (default :func:`default_cache_dir`).
    force : bool
        Download again even if ``<cache_dir>/<name>`` exists.
    verify : bool
        Check the published checksum. ``False`` is needed for archives without
        one ("ml-latest") and skips the check for the others too.
    quiet : bool
        Print nothing.

    Returns
    -------
    pathlib.Path
        ``<cache_dir>/<name>``, holding the dataset's files.

    Raises
    ------
    ChecksumError
        The download does not match its checksum, or there is no checksum and
        ``verify`` is True.
    """
    if name not in ARCHIVES:
        hint = (" The Netflix Prize data cannot be downloaded by mfcore: get it from Kaggle "
                "('Netflix Prize data') and pass its folder." if name == "netflix" else "")
        raise ValueError(f"The 'name' parameter of fetch must be one of "
                         f"{', '.join(map(repr, ARCHIVES))}. Got {name!r} instead.{hint}")
    archive = ARCHIVES[name]
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = root / name
    if target.is_dir() and not force:
        return target
    if verify and archive.sha256 is None and archive.md5 is None:
        raise ChecksumError(
            f"{name} has no published checksum (GroupLens updates it over time), so mfcore "
            f"cannot verify the download. Pass verify=False to accept it unverified "
            f"(`mfcore fetch {name} --no-verify`).")
    root.mkdir(parents=True, exist_ok=True)
    tmp_dir = old_dir = None
    fd, part_name = tempfile.mkstemp(dir=root, prefix=f".{name}.", suffix=".zip.part")
    part = Path(part_name)
    try:
        with os.fdopen(fd, "wb") as dest:
            sha, md5 = _download(archive, dest, quiet)
        if verify:
            _verify(archive, sha, md5, part)
        tmp_dir = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.unpack-"))
        content = _extract(part, tmp_dir)
        if target.is_dir():  # force=True: move the old copy aside, then swap
            old_dir = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.old-"))
            target.rename(old_dir / name)
        try:
            content.rename(target)
        except OSError:
            if old_dir is not None:
                (old_dir / name).rename(target)
            raise
    finally:
        part.unlink(missing_ok=True)
        for folder in (tmp_dir, old_dir):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
    if not quiet:
        print(f"{name} is in {target}", file=sys.stderr)
    return target
