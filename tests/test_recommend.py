"""recommend(): ranking, exclusion of rated items, titles, unknown users."""
import numpy as np
import pandas as pd
import pytest

from mfcore import Biases, Ratings
from mfcore.recommend import recommend

TITLES = pd.DataFrame({"title": ["Vertigo", "Witness", "Xanadu", "Yojimbo", "Zelig"]},
                      index=pd.Index(["v", "w", "x", "y", "z"], name="item"))


@pytest.fixture
def titled(tiny_ratings):
    r = tiny_ratings
    return Ratings.from_arrays(r.user_map.raw[r.users], r.item_map.raw[r.items], r.values,
                               item_map=r.item_map, scale=r.scale, item_info=TITLES)


def test_top_items_exclude_rated_and_carry_titles(titled):
    model = Biases(reg_user=1.0, reg_item=1.0).fit(titled)
    table = recommend(model, "a", n=10)
    # a rated w, x, y: the candidates are v and z, ranked by mu + b_a + b_i
    assert list(table.columns) == ["rank", "item", "title", "score"]
    assert set(table["item"]) == {"v", "z"}
    assert table["rank"].tolist() == [1, 2]
    a = titled.user_map.to_index("a")
    for item, title, score in zip(table["item"], table["title"], table["score"]):
        assert title == TITLES.at[item, "title"]
        i = titled.item_map.to_index(item)
        assert score == pytest.approx(model.predict([a], [i])[0])
    assert table["score"].is_monotonic_decreasing


def test_exclude_rated_false_ranks_every_item(titled):
    model = Biases(reg_user=1.0, reg_item=1.0).fit(titled)
    table = recommend(model, "a", n=3, exclude_rated=False)
    a = titled.user_map.to_index("a")
    scores = model.predict(np.full(5, a), np.arange(5))
    best = np.argsort(-scores, kind="stable")[:3]
    assert table["item"].tolist() == titled.item_map.raw[best].tolist()


def test_without_titles_the_raw_id_is_shown(tiny_ratings):
    model = Biases().fit(tiny_ratings)
    table = recommend(model, "b", n=1)
    assert table["title"].tolist() == [str(table["item"][0])]


def test_method_and_index_lookup_agree(titled):
    model = Biases().fit(titled)
    by_method = model.recommend("d", n=2)
    by_index = recommend(model, titled.user_map.to_index("d"), n=2, raw=False)
    pd.testing.assert_frame_equal(by_method, by_index)


def test_unknown_user_is_a_clear_key_error(titled):
    model = Biases().fit(titled)
    with pytest.raises(KeyError, match=r"unknown user 'nobody'.*first column of the training file"):
        recommend(model, "nobody")
    with pytest.raises(KeyError, match="user index 99 is out of range"):
        recommend(model, 99, raw=False)
    with pytest.raises(KeyError, match="user index 99 is out of range"):  # not np.int64(99)
        recommend(model, np.int64(99), raw=False)
    with pytest.raises(ValueError, match="'n' parameter of recommend"):
        recommend(model, "a", n=0)
