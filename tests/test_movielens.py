"""MovieLens loaders: real ML-100k and bundled ml-latest-small, small files in the other formats."""
import numpy as np
import pandas as pd
import pytest

from mfcore.data import (load_ml1m, load_ml10m, load_ml100k, load_ml100k_split,
                         load_movielens_csv)
from mfcore.data.datasets import bundled_path
from mfcore.data.ratings import RatingScale
from mfcore.exceptions import DataError
from helpers import raw_triples


# ------------------------------------------------------------ ML-100k (real)
@pytest.mark.slow
def test_ml100k_counts_order_and_info(ml100k_dir):
    r = load_ml100k(ml100k_dir)
    assert (len(r), r.n_users, r.n_items) == (100_000, 943, 1682)
    assert r.scale == RatingScale(1, 5, 1) and r.name == "ml-100k"
    assert raw_triples(r)[:2] == [(196, 242, 3.0), (186, 302, 3.0)]       # u.data's first lines
    assert r.timestamps[0] == 881250949
    info = r.item_info
    assert len(info) == 1682 and list(info.columns) == ["title", "year", "genres"]
    assert info.loc[1, "title"] == "Toy Story (1995)" and info.loc[1, "year"] == 1995
    assert info.loc[1, "genres"] == "Animation|Children's|Comedy"
    assert pd.isna(info.loc[267, "year"])                          # the 'unknown' movie
    users = r.meta["users"]
    assert len(users) == 943 and list(users.columns) == ["age", "gender", "occupation", "zip"]
    assert users.loc[1].tolist() == [24, "M", "technician", "85711"]
    assert r.item_title(r.item_map.to_index(1)) == "Toy Story (1995)"


@pytest.mark.slow
@pytest.mark.parametrize("name, n_test", [("u1", 20_000), ("u5", 20_000), ("ua", 9_430)])
def test_ml100k_split_shares_maps(ml100k_dir, name, n_test):
    full = load_ml100k(ml100k_dir)
    train, test = load_ml100k_split(ml100k_dir, name)
    assert (len(train), len(test)) == (100_000 - n_test, n_test)
    assert train.user_map is test.user_map and train.item_map is test.item_map
    assert train.user_map == full.user_map and train.item_map == full.item_map
    assert train.item_info is not None and test.name == f"ml-100k/{name}.test"
    # the same index is the same raw id, and train + test = all of u.data
    pairs = lambda r: set(zip(r.users.tolist(), r.items.tolist()))   # noqa: E731
    assert pairs(train) | pairs(test) == pairs(full) and not pairs(train) & pairs(test)
    first = np.loadtxt(ml100k_dir / f"{name}.test", dtype=np.int64, max_rows=1)
    assert raw_triples(test)[0] == (first[0], first[1], float(first[2]))
    if name == "ua":
        assert np.all(test.user_counts() == 10)


def test_ml100k_split_bad_name(tmp_path):
    with pytest.raises(ValueError, match="'name' parameter of load_ml100k_split must be one of"):
        load_ml100k_split(tmp_path, "u6")


def test_ml100k_missing_folder_and_wrong_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="mfcore fetch ml-100k"):
        load_ml100k(tmp_path / "nowhere")
    (tmp_path / "ratings.csv").write_text("1,2,3\n")
    with pytest.raises(DataError, match="has no u.data, so it is not a ml-100k folder"):
        load_ml100k(tmp_path)


# ------------------------------------------------------------ ML-1M / ML-10M formats
def make_ml1m(folder):
    folder.mkdir()
    (folder / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n"
                                        "2::1193::4::978298413\n3::2::1::978297000\n")
    (folder / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::Star Wars: Episode IV - A New Hope (1977)::Action|Sci-Fi\n"
        "2::Am\xe9lie (2001)::Comedy|Romance\n".encode("latin-1"))
    (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n"
                                      "3::M::25::15::55117\n")
    return folder


def test_ml1m_format(tmp_path):
    r = load_ml1m(make_ml1m(tmp_path / "ml-1m"))
    assert raw_triples(r) == [(1, 1193, 5.0), (1, 661, 3.0), (2, 1193, 4.0), (3, 2, 1.0)]
    assert r.scale == RatingScale(1, 5, 1) and r.timestamps[0] == 978300760
    assert r.item_info.loc[661, "title"] == "Star Wars: Episode IV - A New Hope (1977)"
    assert r.item_info.loc[2, "title"] == "Amélie (2001)"
    assert r.item_info.loc[661, "year"] == 1977
    assert r.item_info.loc[661, "genres"] == "Action|Sci-Fi"
    assert r.meta["users"].loc[2].tolist() == ["M", 56, 16, "70072"]


def test_ml10m_format_via_both_loaders(tmp_path):
    folder = tmp_path / "ml-10M100K"
    folder.mkdir()
    (folder / "ratings.dat").write_text("1::122::5::838985046\n1::185::4.5::838983525\n"
                                        "2::122::0.5::868245777\n")
    (folder / "movies.dat").write_text("122::Boomerang (1992)::Comedy|Romance\n"
                                       "185::Net, The (1995)::Action|Crime|Thriller\n",
                                       encoding="utf-8")
    for r in (load_ml10m(folder), load_movielens_csv(folder)):
        assert raw_triples(r) == [(1, 122, 5.0), (1, 185, 4.5), (2, 122, 0.5)]
        assert r.scale == RatingScale(0.5, 5, 0.5)
        assert r.item_info.loc[185, "title"] == "Net, The (1995)"
        assert "users" in r.meta and r.meta["users"] is None


def test_ml1m_bad_movies_line(tmp_path):
    folder = make_ml1m(tmp_path / "ml-1m")
    (folder / "movies.dat").write_text("1193::Only a title\n")
    with pytest.raises(DataError, match=r"movies.dat, line 1: expected 'MovieID::Title::Genres'"):
        load_ml1m(folder)


# ------------------------------------------------------------ CSV family
def test_ml20m_csv_format(tmp_path):
    folder = tmp_path / "ml-20m"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n"
                                        "1,2,3.5,1112486027\n1,29,3.5,1112484676\n"
                                        "2,2,4.0,1112484819\n")
    (folder / "movies.csv").write_text(
        'movieId,title,genres\n2,Jumanji (1995),Adventure|Children|Fantasy\n'
        '29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Adventure|Drama\n'
        '30,Untitled,(no genres listed)\n', encoding="utf-8")
    r = load_movielens_csv(folder)
    assert r.name == "ml-20m" and r.scale == RatingScale(0.5, 5, 0.5)
    assert raw_triples(r) == [(1, 2, 3.5), (1, 29, 3.5), (2, 2, 4.0)]
    assert r.timestamps.tolist() == [1112486027, 1112484676, 1112484819]
    info = r.item_info
    assert info.loc[29, "title"].startswith("City of Lost Children, The (Cité")
    assert info.loc[29, "year"] == 1995 and pd.isna(info.loc[30, "year"])
    assert info.loc[2, "genres"] == "Adventure|Children|Fantasy"


def test_kaggle_ml20m_copy_with_dates(tmp_path):
    (tmp_path / "rating.csv").write_text("userId,movieId,rating,timestamp\n"
                                         "1,2,3.5,2005-04-02 23:53:47\n")
    (tmp_path / "movie.csv").write_text("movieId,title,genres\n2,Jumanji (1995),Comedy\n")
    r = load_movielens_csv(tmp_path, name="ml-20m")
    assert r.timestamps.tolist() == [1112486027]
    assert r.item_info.loc[2, "title"] == "Jumanji (1995)"


def test_csv_folder_without_ratings(tmp_path):
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n")
    with pytest.raises(DataError, match="has no ratings.csv"):
        load_movielens_csv(tmp_path)


def test_bundled_ml_latest_small():
    r = load_movielens_csv(bundled_path())
    assert (len(r), r.n_users, r.n_items) == (100_004, 671, 9_066)
    assert r.scale == RatingScale(0.5, 5, 0.5) and r.name == "ml-latest-small"
    assert raw_triples(r)[0] == (1, 31, 2.5) and r.timestamps[0] == 1260759144
    assert set(np.unique(r.values)) == set(np.arange(1, 11) / 2)
    assert r.item_info.loc[1, "title"] == "Toy Story (1995)"
    assert r.item_info.loc[1, "genres"] == "Adventure|Animation|Children|Comedy|Fantasy"
