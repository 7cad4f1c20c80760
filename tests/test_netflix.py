"""Netflix Prize loader on small files in the real format."""
import numpy as np
import pandas as pd
import pytest

from mfcore.data import load_netflix
from mfcore.data import netflix
from mfcore.data.ratings import RatingScale
from mfcore.exceptions import DataError

FILES = {
    "combined_data_1.txt": "1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n885013,4,2005-10-19\n"
                           "2:\n2059652,4,2005-09-05\n1488844,1,2000-02-29\n",
    "combined_data_2.txt": "3:\r\n6,2,1999-12-31\r\n\r\n4:\r\n822109,5,2004-01-01\r\n",
    "combined_data_3.txt": "5:\n7,1,2003-03-03\n2649429,5,2005-12-31",   # no final newline
    "combined_data_4.txt": "6:\n30878,4,2005-12-26\n",
}
TITLES = ("1,2003,Dinosaur Planet\n2,2004,Isle of Man TT 2004 Review\n"
          "3,NULL,Amélie, or, a title with commas\n4,1994,Paula Abdul's Get Up & Dance\n"
          "5,2004,The Rise and Fall of ECW\n6,1997,Sick\n")


@pytest.fixture
def netflix_dir(tmp_path):
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, newline="")
    (tmp_path / "movie_titles.csv").write_bytes(TITLES.encode("ISO-8859-1"))
    return tmp_path


def expected_rows():
    """The fixture's ratings, parsed by the readable line-by-line reference parser."""
    cols = [[], [], [], []]
    for text in FILES.values():
        for store, values in zip(cols, netflix._parse_lines_simple(text.splitlines())):
            store.extend(values)
    return [np.array(c) for c in cols]


def test_loads_in_file_order(netflix_dir):
    r = load_netflix(netflix_dir)
    movies, users, ratings, days = expected_rows()
    assert (len(r), r.n_users, r.n_items) == (10, 8, 6)
    assert r.scale == RatingScale(1, 5, 1) and r.name == "netflix"
    np.testing.assert_array_equal(r.item_map.raw[r.items], movies)
    np.testing.assert_array_equal(r.user_map.raw[r.users], users)
    np.testing.assert_array_equal(r.values, ratings)
    assert r.users.dtype == np.int32 and r.items.dtype == np.int32
    assert r.values.dtype == np.float32 and r.timestamps.dtype == np.int32  # compact storage
    np.testing.assert_array_equal(r.timestamps, days * 86400)
    assert r.timestamps[0] == pd.Timestamp("2005-09-06", tz="UTC").timestamp()
    assert r.meta["files"] == list(FILES)


def test_titles_with_commas_latin1_and_null_years(netflix_dir):
    info = load_netflix(netflix_dir).item_info
    assert info.loc[3, "title"] == "Amélie, or, a title with commas"
    assert pd.isna(info.loc[3, "year"]) and info.loc[1, "year"] == 2003
    assert info.loc[4, "title"] == "Paula Abdul's Get Up & Dance"
    assert list(info.columns) == ["title", "year"]


@pytest.mark.parametrize("chunk", [1, 7, 23, 64, 1 << 20])
def test_chunk_size_does_not_change_the_result(netflix_dir, chunk):
    ref = load_netflix(netflix_dir, titles=False)
    r = load_netflix(netflix_dir, titles=False, chunk_bytes=chunk)
    for a, b in ((r.users, ref.users), (r.items, ref.items), (r.values, ref.values),
                 (r.timestamps, ref.timestamps)):
        np.testing.assert_array_equal(a, b)


def test_vectorised_parser_matches_reference(tmp_path):
    rng = np.random.default_rng(0)
    lines = []
    for movie in rng.choice(17_770, 40, replace=False) + 1:
        lines.append(f"{movie}:")
        for _ in range(rng.integers(1, 30)):
            day = np.datetime64("1998-10-01") + rng.integers(0, 2700)
            lines.append(f"{rng.integers(1, 2_649_430)},{rng.integers(1, 6)},{day}")
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n")
    r = load_netflix(tmp_path, files=["c.txt"], titles=False, chunk_bytes=997)
    movies, users, ratings, days = netflix._parse_lines_simple(lines)
    np.testing.assert_array_equal(r.item_map.raw[r.items], movies)
    np.testing.assert_array_equal(r.user_map.raw[r.users], users)
    np.testing.assert_array_equal(r.values, ratings)
    np.testing.assert_array_equal(r.timestamps // 86400, days)


def test_days_from_civil_matches_numpy():
    days = np.arange(np.datetime64("1899-12-25"), np.datetime64("2101-03-05"))
    ymd = pd.DatetimeIndex(days)
    got = netflix.days_from_civil(ymd.year.to_numpy(), ymd.month.to_numpy(), ymd.day.to_numpy())
    np.testing.assert_array_equal(got, days.astype(np.int64))


def test_files_subset_and_options(netflix_dir):
    r = load_netflix(netflix_dir, files=["combined_data_4.txt", "combined_data_3.txt"],
                     titles=False, timestamps=False)
    assert r.item_map.raw[r.items].tolist() == [6, 5, 5]
    assert r.timestamps is None and r.item_info is None


def test_missing_files_are_listed(netflix_dir):
    (netflix_dir / "combined_data_3.txt").unlink()
    with pytest.raises(DataError, match=r"lacks \['combined_data_3.txt'\].*files=\[...\]"):
        load_netflix(netflix_dir)
    with pytest.raises(FileNotFoundError, match="download the data from Kaggle"):
        load_netflix(netflix_dir / "nope")


def test_missing_titles(netflix_dir):
    (netflix_dir / "movie_titles.csv").unlink()
    with pytest.raises(DataError, match="no movie_titles.csv; pass titles=False"):
        load_netflix(netflix_dir)
    assert len(load_netflix(netflix_dir, titles=False)) == 10


@pytest.mark.parametrize("text, line, what", [
    ("1:\n5,3,2005-09-06\n5,3,2005-09\n", 3, "expected 'user_id,rating,YYYY-MM-DD'"),
    ("1:\n5,3,2005-09-06\n\n6,7,2005-09-06\n", 4, "with a rating 1..5"),
    ("1:\nabc,3,2005-09-06\n", 2, "expected 'user_id,rating"),
    ("1:\n5;3;2005-09-06\n", 2, "expected 'user_id,rating"),
    ("7,3,2005-09-06\n", 1, "a rating comes before any 'movie_id:' line"),
    ("1:\n5,3,2005-09-06\nx1:\n", 3, "is not a movie id"),
])
def test_bad_lines_name_file_and_line(tmp_path, text, line, what):
    (tmp_path / "bad.txt").write_text(text)
    with pytest.raises(DataError, match=rf"bad.txt, line {line}: .*{what}"):
        load_netflix(tmp_path, files=["bad.txt"], titles=False, chunk_bytes=8)


def test_bad_title_line(netflix_dir):
    (netflix_dir / "movie_titles.csv").write_text("1,2003,Dinosaur Planet\n2,soon,Oops\n")
    with pytest.raises(DataError, match=r"titles.csv, line 2: expected 'movie_id,year,title'"):
        load_netflix(netflix_dir)


def test_empty_files(tmp_path):
    (tmp_path / "e.txt").write_text("")
    with pytest.raises(DataError, match="no ratings in"):
        load_netflix(tmp_path, files=["e.txt"], titles=False)
