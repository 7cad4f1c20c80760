"""read_ratings: separators, headers, scales, timestamps, duplicates and every error."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfcore.data import readers
from mfcore.data.ratings import RatingScale
from mfcore.data.readers import read_ratings
from mfcore.exceptions import DataError
from helpers import raw_triples


def write(tmp_path, text, name="r.txt", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# ------------------------------------------------------------ formats
def test_comma_with_header_string_ids_keeps_file_order(tmp_path):
    path = write(tmp_path, "user,item,rating\nzoe,b,7\nann,a,10\nzoe,a,1\nbob,c,4\n")
    r = read_ratings(path)
    assert raw_triples(r) == [("zoe", "b", 7.0), ("ann", "a", 10.0), ("zoe", "a", 1.0), ("bob", "c", 4.0)]
    assert r.scale == RatingScale(1, 10, 1)
    assert r.timestamps is None and r.name == "r.txt"


def test_tab_without_header_reads_timestamps(tmp_path):
    path = write(tmp_path, "196\t242\t3\t881250949\n186\t302\t3\t891717742\n"
                           "22\t377\t1\t878887116\n")
    r = read_ratings(path)
    assert raw_triples(r) == [(196, 242, 3.0), (186, 302, 3.0), (22, 377, 1.0)]
    assert r.timestamps.dtype == np.int64
    assert r.timestamps.tolist() == [881250949, 891717742, 878887116]


def test_double_colon(tmp_path):
    path = write(tmp_path, "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    r = read_ratings(path)
    assert raw_triples(r) == [(1, 1193, 5.0), (1, 661, 3.0), (2, 1193, 4.0)]
    assert r.timestamps[-1] == 978298413


def test_whitespace_runs(tmp_path):
    path = write(tmp_path, "1  10 \t 2.5\n  2 10 4\n3\t11\t0.5\n")
    r = read_ratings(path)
    assert raw_triples(r) == [(1, 10, 2.5), (2, 10, 4.0), (3, 11, 0.5)]
    assert r.scale == RatingScale(0.5, 4, 0.5)


def test_negative_scale_is_inferred(tmp_path):
    path = write(tmp_path, "a;x;-10\nb;x;10\nc;y;0\nc;x;-3\n")
    r = read_ratings(path)
    assert r.scale == RatingScale(-10, 10, 1)
    assert r.values.tolist() == [-10.0, 10.0, 0.0, -3.0]


def test_columns_by_name_and_position(tmp_path):
    path = write(tmp_path, "rating,movie,when,person\n4,m1,100,u1\n2,m2,200,u2\n")
    by_name = read_ratings(path, columns=["person", "movie", "rating", "when"])
    by_pos = read_ratings(path, header=True, columns=[3, 1, 0, 2])
    for r in (by_name, by_pos):
        assert raw_triples(r) == [("u1", "m1", 4.0), ("u2", "m2", 2.0)]
        assert r.timestamps.tolist() == [100, 200]


def test_iso_dates_become_unix_seconds(tmp_path):
    path = write(tmp_path, "1,5,3,2005-09-06\n2,5,4,1970-01-02\n")
    r = read_ratings(path)
    assert r.timestamps.tolist() == [1125964800, 86400]


def test_fourth_column_that_is_not_a_time_is_ignored(tmp_path):
    path = write(tmp_path, "1,5,3,great\n2,5,4,meh\n")
    assert read_ratings(path).timestamps is None
    with pytest.raises(DataError, match=r"line 1: the timestamp 'great'"):
        read_ratings(path, columns=[0, 1, 2, 3])


def test_one_bad_entry_in_a_timestamp_column_is_named_not_dropped_with_the_column(tmp_path):
    path = write(tmp_path, "1,5,3,100\n2,5,4,200\n3,6,2,abc\n")
    with pytest.raises(DataError, match=r"line 3: the timestamp 'abc' is neither an integer nor a date"):
        read_ratings(path)


def test_given_scale_is_used_and_enforced(tmp_path):
    path = write(tmp_path, "1,1,2\n1,2,3\n2,1,9\n")
    assert read_ratings(path, scale=RatingScale(1, 10, 1)).scale == RatingScale(1, 10, 1)
    with pytest.raises(DataError, match=r"r.txt, line 3: the rating 9 is outside the scale 1..5"):
        read_ratings(path, scale=RatingScale(1, 5, 1))


def test_blank_lines_are_skipped_and_line_numbers_stay_true(tmp_path):
    path = write(tmp_path, "u,i,r\n\n1,1,2\n\n\n2,2,x\n")
    with pytest.raises(DataError, match=r"line 6: the rating 'x' is not a number"):
        read_ratings(path)
    good = write(tmp_path, "\n1,1,2\n\n2,2,3\n\n", "good.txt")
    assert read_ratings(good).values.tolist() == [2.0, 3.0]


def test_crlf_and_latin1(tmp_path):
    path = write(tmp_path, "Zo\xe9,a,1\r\nAm\xe9lie,b,2\r\n", encoding="latin-1")
    r = read_ratings(path, encoding="latin-1")
    assert raw_triples(r) == [("Zoé", "a", 1.0), ("Amélie", "b", 2.0)]
    with pytest.raises(DataError, match="encoding='latin-1'"):
        read_ratings(path)


@pytest.mark.slow
def test_ml100k_u_data_in_file_order(ml100k_dir):
    r = read_ratings(ml100k_dir / "u.data")
    expected = np.loadtxt(ml100k_dir / "u.data", dtype=np.int64)
    assert (len(r), r.n_users, r.n_items) == (100_000, 943, 1682)
    np.testing.assert_array_equal(r.user_map.raw[r.users], expected[:, 0])
    np.testing.assert_array_equal(r.item_map.raw[r.items], expected[:, 1])
    np.testing.assert_array_equal(r.values, expected[:, 2])
    np.testing.assert_array_equal(r.timestamps, expected[:, 3])


@settings(max_examples=25, deadline=None)
@given(data=st.lists(st.tuples(st.integers(0, 50), st.sampled_from("abcdefg"),
                               st.integers(-8, 8)), min_size=1, max_size=30,
                     unique_by=lambda t: t[:2]),
       sep=st.sampled_from([",", "\t", "::", " ", ";"]), header=st.booleans())
def test_round_trip_any_separator(tmp_path_factory, data, sep, header):
    path = tmp_path_factory.mktemp("rt") / "r.txt"
    lines = ([sep.join(["u", "i", "r"])] if header else []) + [
        sep.join([str(u), i, str(v / 2)]) for u, i, v in data]
    path.write_text("\n".join(lines) + "\n")
    r = read_ratings(path)
    assert raw_triples(r) == [(u, i, v / 2) for u, i, v in data]


# ------------------------------------------------------------ errors
def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no ratings file at .*nope.csv.*spelling"):
        read_ratings(tmp_path / "nope.csv")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder.*load_dataset"):
        read_ratings(tmp_path)


def test_unreadable_file(tmp_path, monkeypatch):
    path = write(tmp_path, "1,2,3\n")

    def deny(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(readers, "open", deny, raising=False)
    with pytest.raises(PermissionError, match="permission denied; check the file's permissions"):
        read_ratings(path)


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(tmp_path, text):
    with pytest.raises(DataError, match="r.txt is empty: it holds no ratings"):
        read_ratings(write(tmp_path, text))


def test_header_only(tmp_path):
    with pytest.raises(DataError, match="header line but no ratings"):
        read_ratings(write(tmp_path, "user,item,rating\n"))


def test_wrong_delimiter_gives_one_column(tmp_path):
    path = write(tmp_path, "1\t2\t3\n4\t5\t1\n")
    with pytest.raises(DataError, match=r"line 1: .* has 1 column\(s\) split on ',' but 3 split on "
                                        r"'\\t'; pass sep='\\t'"):
        read_ratings(path, sep=",")
    odd = write(tmp_path, "1-2-3\n4-5-1\n", "odd.txt")
    with pytest.raises(DataError, match="only 1 column.*pass the file's separator"):
        read_ratings(odd)
    two = write(tmp_path, "1,2\n3,4\n", "two.csv")
    with pytest.raises(DataError, match=r"only 2 column\(s\) split on ','.*user, item and rating"):
        read_ratings(two)


def test_missing_column_names_the_line(tmp_path):
    path = write(tmp_path, "1,1,4\n1,2,3\n2,1\n")
    with pytest.raises(DataError, match=r"r.txt, line 3: the rating is missing or NaN"):
        read_ratings(path)
    short = write(tmp_path, "1,1,4\n7\n", "short.txt")
    with pytest.raises(DataError, match=r"short.txt, line 2: the item column is missing"):
        read_ratings(short)


def test_missing_named_column(tmp_path):
    path = write(tmp_path, "userId,movieId,rating\n1,2,3\n")
    with pytest.raises(DataError, match=r"no column named 'score'; the header has"):
        read_ratings(path, columns=["userId", "movieId", "score"])


def test_non_numeric_rating(tmp_path):
    path = write(tmp_path, "1,1,4\n1,2,three\n")
    with pytest.raises(DataError, match=r"line 2: the rating 'three' is not a number"):
        read_ratings(path)


@pytest.mark.parametrize("bad, problem, fix", [
    ("nan", "the rating is missing or NaN", "every line needs a numeric rating"),
    ("inf", "the rating inf is infinite", "ratings must be finite numbers: correct the value or delete the line"),
    ("-inf", "the rating -inf is infinite", "ratings must be finite numbers: correct the value or delete the line"),
])
def test_nan_and_inf_ratings(tmp_path, bad, problem, fix):
    path = write(tmp_path, f"u,i,r\n1,1,4\n1,2,{bad}\n")
    with pytest.raises(DataError) as info:
        read_ratings(path)
    assert str(info.value) == f"{path}, line 3: {problem} (1 bad rating in all); {fix}"


# ------------------------------------------------------------ duplicates
DUPS = "u,i,r,t\na,x,1,10\nb,x,2,20\na,x,4,30\nb,y,5,40\na,x,3,50\n"


def test_duplicate_pair_raises_naming_both_lines(tmp_path):
    path = write(tmp_path, DUPS)
    with pytest.raises(DataError, match=r"r.txt, line 4: user 'a' rated item 'x' again "
                                        r"\(first on line 2\); pass duplicates='last'"):
        read_ratings(path)


@pytest.mark.parametrize("policy, expected, times", [
    ("first", [("a", "x", 1.0), ("b", "x", 2.0), ("b", "y", 5.0)], [10, 20, 40]),
    ("last", [("b", "x", 2.0), ("b", "y", 5.0), ("a", "x", 3.0)], [20, 40, 50]),
    ("mean", [("a", "x", 8 / 3), ("b", "x", 2.0), ("b", "y", 5.0)], [10, 20, 40]),
])
def test_duplicate_policies(tmp_path, policy, expected, times):
    r = read_ratings(write(tmp_path, DUPS), duplicates=policy)
    assert [t[:2] for t in raw_triples(r)] == [t[:2] for t in expected]
    np.testing.assert_allclose(r.values, [t[2] for t in expected], rtol=1e-15)
    assert r.timestamps.tolist() == times
    assert r.meta["duplicates_merged"] == 2


def test_bad_duplicates_argument(tmp_path):
    with pytest.raises(ValueError, match="'duplicates' parameter of read_ratings"):
        read_ratings(write(tmp_path, "1,2,3\n"), duplicates="drop")


def test_bad_reader_options_are_named(tmp_path):
    path = write(tmp_path, "1,5,3\n2,5,4\n")
    with pytest.raises(ValueError, match="0-based and >= 0; got -1"):
        read_ratings(path, columns=[0, 1, -1])
    with pytest.raises(TypeError, match="'scale' parameter of read_ratings must be a RatingScale"):
        read_ratings(path, scale=(1, 5))
    with pytest.raises(ValueError, match="'encoding' parameter of read_ratings .* Got 'bogus'"):
        read_ratings(path, encoding="bogus")


@pytest.mark.parametrize("kind", ["gzip", "zip", "npz", "utf-16"])
def test_a_file_that_is_not_text_says_so(kind, tmp_path):
    import gzip
    import zipfile

    text = "1,1,4\n1,2,3\n2,1,5\n"
    path = tmp_path / f"r.{kind}"
    if kind == "gzip":
        path.write_bytes(gzip.compress(text.encode()))
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("r.csv", text)
    elif kind == "npz":
        np.savez(path, a=np.arange(3))  # r.npz: a model file is one too
    else:
        path.write_text(text, encoding="utf-16")
    with pytest.raises(DataError, match=r"is not a text file \(compressed, an archive, a model file, or text in "
                                        r"UTF-16\?\): give the ratings as text"):
        read_ratings(path)
    if kind == "utf-16":
        for name in ("utf-16", "utf16", "UTF_16"):  # any name Python gives the codec
            assert len(read_ratings(path, encoding=name)) == 3


def test_utf_32_text_is_text(tmp_path):
    path = tmp_path / "r32.csv"
    path.write_text("1,1,4\n1,2,3\n2,1,5\n", encoding="utf-32")
    assert len(read_ratings(path, encoding="utf-32")) == 3
