"""fetch() with an in-process fake download (never the network), and the dataset registry."""
import hashlib
import io
import re
import zipfile
from pathlib import Path

import pytest

from mfcore.data import datasets, download
from mfcore.data.datasets import (DATASETS, DEFAULT_DATASET, bundled_path, dataset_names,
                                  find_dataset, load_dataset)
from mfcore.data.download import ARCHIVES, Archive, fetch
from mfcore.exceptions import ChecksumError, DataError

U_DATA = "1\t10\t4\t881250949\n2\t10\t3\t881250950\n1\t20\t5\t881250951\n"
U_ITEM = ("10|Ten (1995)|01-Jan-1995||http://x|" + "|".join("0" * 18) + "|1\n"
          "20|Twenty (1990)|01-Jan-1990||http://y|1|" + "|".join("0" * 18) + "\n")


def make_zip(files, top="ml-100k"):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(f"{top}/{name}" if top else name, text)
    return buf.getvalue()


class FakeWeb:
    """Stands in for urllib's urlopen: serves fixed bytes and counts calls."""

    def __init__(self, payload, fail_after=None):
        self.payload, self.fail_after, self.calls = payload, fail_after, []

    def __call__(self, url, timeout=None):
        self.calls.append(url)
        body = io.BytesIO(self.payload)
        if self.fail_after is not None:
            def read(n=-1, _read=body.read):
                if body.tell() >= self.fail_after:
                    raise ConnectionResetError("connection reset by peer")
                return _read(min(n, 4))
            body.read = read
        return body


@pytest.fixture
def served(monkeypatch):
    """Register a fake ml-100k archive with correct checksums; return (web, payload)."""
    payload = make_zip({"u.data": U_DATA, "u.item": U_ITEM})
    monkeypatch.setitem(ARCHIVES, "ml-100k", Archive(
        "ml-100k.zip", "ml-100k", len(payload), hashlib.sha256(payload).hexdigest(),
        hashlib.md5(payload).hexdigest()))
    web = FakeWeb(payload)
    monkeypatch.setattr(download, "_urlopen", web)
    return web, payload


def test_good_checksum_extracts_and_leaves_nothing_else(tmp_path, served):
    web, _ = served
    folder = fetch("ml-100k", cache_dir=tmp_path, quiet=True)
    assert folder == tmp_path / "ml-100k"
    assert (folder / "u.data").read_text() == U_DATA
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml-100k"]
    assert web.calls == ["https://files.grouplens.org/datasets/movielens/ml-100k.zip"]


def test_bad_checksum_raises_and_leaves_no_files(tmp_path, served, monkeypatch):
    web, payload = served
    web.payload = payload[:-1] + b"!"
    with pytest.raises(ChecksumError, match=r"SHA-256 checksum mismatch: expected [0-9a-f]{64}, "
                                            r"got [0-9a-f]{64}\. The downloaded file was deleted\."
                                            r" Retry"):
        fetch("ml-100k", cache_dir=tmp_path, quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_md5_is_used_when_there_is_no_sha256(tmp_path, served, monkeypatch):
    web, payload = served
    monkeypatch.setitem(ARCHIVES, "ml-100k", Archive("ml-100k.zip", "ml-100k",
                                                     md5=hashlib.md5(payload).hexdigest()))
    assert (fetch("ml-100k", cache_dir=tmp_path, quiet=True) / "u.data").is_file()
    monkeypatch.setitem(ARCHIVES, "ml-100k", Archive("ml-100k.zip", "ml-100k", md5="0" * 32))
    with pytest.raises(ChecksumError, match="MD5 checksum mismatch: expected 0{32}"):
        fetch("ml-100k", cache_dir=tmp_path / "other", quiet=True)
    assert list((tmp_path / "other").iterdir()) == []


def test_cached_copy_is_not_downloaded_again(tmp_path, served):
    web, _ = served
    fetch("ml-100k", cache_dir=tmp_path, quiet=True)
    (tmp_path / "ml-100k" / "marker").write_text("old copy")
    assert fetch("ml-100k", cache_dir=tmp_path, quiet=True) == tmp_path / "ml-100k"
    assert len(web.calls) == 1 and (tmp_path / "ml-100k" / "marker").exists()
    fetch("ml-100k", cache_dir=tmp_path, force=True, quiet=True)
    assert len(web.calls) == 2 and not (tmp_path / "ml-100k" / "marker").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml-100k"]


def test_cut_download_leaves_nothing(tmp_path, served):
    web, payload = served
    web.fail_after = len(payload) // 2
    with pytest.raises(ConnectionError, match=r"cannot download .*ml-100k\.zip \(connection reset by peer\); "
                                              r"check the network connection and retry, or download"):
        fetch("ml-100k", cache_dir=tmp_path, quiet=True)
    assert list(tmp_path.iterdir()) == []


def test_no_network_is_one_line_saying_what_to_do(tmp_path, served, monkeypatch, capsys):
    import urllib.error

    from mfcore.cli import main

    def offline(url, timeout=None):
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))
    monkeypatch.setattr(download, "_urlopen", offline)
    assert main(["fetch", "ml-100k", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "mfcore fetch: error: cannot download" in err and "Name or service not known" in err
    assert "download the archive by hand" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_no_checksum_needs_verify_false(tmp_path, monkeypatch):
    payload = make_zip({"ratings.csv": "userId,movieId,rating,timestamp\n1,2,3.5,100\n"},
                       top="ml-latest")
    web = FakeWeb(payload)
    monkeypatch.setattr(download, "_urlopen", web)
    with pytest.raises(ChecksumError, match="no published checksum.*verify=False"):
        fetch("ml-latest", cache_dir=tmp_path, quiet=True)
    assert web.calls == []
    folder = fetch("ml-latest", cache_dir=tmp_path, verify=False, quiet=True)
    assert (folder / "ratings.csv").is_file()


def test_not_a_zip_and_unsafe_zip_leave_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "_urlopen", FakeWeb(b"<html>busy</html>"))
    with pytest.raises(DataError, match="not a zip archive"):
        fetch("ml-latest", cache_dir=tmp_path, verify=False, quiet=True)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(download, "_urlopen", FakeWeb(make_zip({"../evil.txt": "x"})))
    with pytest.raises(DataError, match="unsafe path"):
        fetch("ml-latest", cache_dir=tmp_path, verify=False, quiet=True)
    assert list(tmp_path.iterdir()) == [] and not (tmp_path.parent / "evil.txt").exists()


def test_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="'name' parameter of fetch must be one of 'ml-100k'"):
        fetch("ml-5k", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="Kaggle"):
        fetch("netflix", cache_dir=tmp_path)


def test_default_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("MFCORE_CACHE", str(tmp_path / "c"))
    assert download.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("MFCORE_CACHE")
    assert download.default_cache_dir().parts[-2:] == (".cache", "mfcore")


def test_checksum_table_is_well_formed():
    for name in ("ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-latest-small"):
        a = ARCHIVES[name]
        assert a.sha256 or a.md5, name
        assert a.sha256 is None or re.fullmatch("[0-9a-f]{64}", a.sha256)
        assert a.md5 is None or re.fullmatch("[0-9a-f]{32}", a.md5)
        assert a.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
    assert ARCHIVES["ml-latest"].sha256 is None and ARCHIVES["ml-latest"].md5 is None


# ------------------------------------------------------------ registry and load_dataset
def test_registry():
    assert DEFAULT_DATASET == "ml-latest-small" and "netflix" in dataset_names()
    assert set(dataset_names()) == set(ARCHIVES) | {"netflix"}
    assert all(callable(info.loader) and info.description for info in DATASETS.values())
    assert (bundled_path() / "ratings.csv").is_file()


def test_default_dataset_is_the_bundled_2016_copy(monkeypatch, tmp_path):
    monkeypatch.setenv("MFCORE_CACHE", str(tmp_path))
    r = load_dataset()
    assert (len(r), r.n_users, r.n_items) == (100_004, 671, 9_066)


def test_find_dataset_search_order(monkeypatch, tmp_path):
    data, cache = tmp_path / "data", tmp_path / "cache"
    monkeypatch.setenv("MFCORE_CACHE", str(cache))
    monkeypatch.delenv("MFCORE_DATA_DIR", raising=False)
    assert find_dataset("ml-1m") is None
    assert find_dataset("ml-latest-small") == bundled_path()
    (cache / "ml-1m").mkdir(parents=True)
    (cache / "ml-1m" / "ratings.dat").write_text("1::2::3::4\n")
    assert find_dataset("ml-1m") == cache / "ml-1m"
    (data / "ml-1m").mkdir(parents=True)
    (data / "ml-1m" / "ratings.dat").write_text("1::2::3::4\n")
    monkeypatch.setenv("MFCORE_DATA_DIR", str(data))
    assert find_dataset("ml-1m") == data / "ml-1m"
    with pytest.raises(DataError, match="unknown dataset 'ml-2m'; known datasets are ml-100k"):
        find_dataset("ml-2m")


def test_load_dataset_not_found_messages(monkeypatch, tmp_path):
    monkeypatch.setenv("MFCORE_CACHE", str(tmp_path))
    monkeypatch.delenv("MFCORE_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="run `mfcore fetch ml-20m`.*or pass path=FOLDER"):
        load_dataset("ml-20m")
    with pytest.raises(DataError, match="get 'Netflix Prize data' from Kaggle"):
        load_dataset("netflix")
    with pytest.raises(DataError, match="neither a known dataset.*known datasets are ml-100k"):
        load_dataset("movielens-100k")


def test_load_dataset_download_true_fetches_then_loads(monkeypatch, tmp_path, served):
    web, _ = served
    monkeypatch.setenv("MFCORE_CACHE", str(tmp_path))
    monkeypatch.delenv("MFCORE_DATA_DIR", raising=False)
    monkeypatch.setattr(download, "_urlopen", web)
    r = load_dataset("ml-100k", download=True)
    assert (len(r), r.n_users, r.n_items) == (3, 2, 2) and len(web.calls) == 1
    assert r.item_info.loc[10, "title"] == "Ten (1995)"
    assert r.item_info.loc[10, "genres"] == "Western"
    assert len(load_dataset("ml-100k")) == 3 and len(web.calls) == 1   # now found in the cache


def test_load_dataset_paths(tmp_path):
    (tmp_path / "r.tsv").write_text("a\tx\t1\nb\tx\t2\n")
    assert len(load_dataset(tmp_path / "r.tsv")) == 2
    assert load_dataset(str(tmp_path / "r.tsv"), sep="\t").n_users == 2
    ml1m = tmp_path / "one"
    ml1m.mkdir()
    (ml1m / "ratings.dat").write_text("1::2::3::4\n")
    (ml1m / "users.dat").write_text("1::F::1::10::48067\n")
    assert load_dataset(ml1m).name == "ml-1m"
    (ml1m / "users.dat").unlink()
    assert load_dataset(ml1m).name == "ml-10m"
    latest = tmp_path / "my-latest"
    latest.mkdir()
    (latest / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,3.5,100\n")
    assert load_dataset(latest).name == "my-latest"
    assert load_dataset("ml-25m", path=latest).name == "ml-25m"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a dataset folder mfcore recognises"):
        load_dataset(tmp_path / "empty")


@pytest.mark.slow
def test_load_dataset_ml100k_from_data_dir(ml100k_dir, monkeypatch):
    monkeypatch.setenv("MFCORE_DATA_DIR", str(ml100k_dir.parent))
    assert len(load_dataset("ml-100k")) == 100_000
    assert len(load_dataset(ml100k_dir)) == 100_000
    assert datasets.find_dataset("ml-100k") == ml100k_dir


def test_a_path_object_is_never_taken_for_a_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MFCORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MFCORE_DATA_DIR", raising=False)
    (tmp_path / "ml-1m").mkdir()
    (tmp_path / "ml-1m" / "ratings.csv").write_text("userId,movieId,rating\n1,2,3.5\n")
    assert len(load_dataset(Path("ml-1m"))) == 1
    with pytest.raises(DataError, match="run `mfcore fetch ml-1m`"):
        load_dataset("ml-1m")
