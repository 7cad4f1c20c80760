"""Ratings, loaders, filters, splits and synthetic data."""
from .ratings import IdMap, Ratings, RatingScale

__all__ = ["IdMap", "Ratings", "RatingScale"]
from .readers import read_ratings
from .movielens import (load_ml100k, load_ml100k_split, load_ml1m, load_ml10m,
                        load_movielens_csv)
from .netflix import load_netflix

__all__ += ["read_ratings", "load_ml100k", "load_ml100k_split", "load_ml1m", "load_ml10m",
            "load_movielens_csv", "load_netflix"]
from .download import default_cache_dir, fetch
from .datasets import (DATASETS, DEFAULT_DATASET, bundled_path, dataset_names, find_dataset,
                       load_dataset)
from .filters import filter_min_counts, first_fraction

__all__ += ["default_cache_dir", "fetch", "DATASETS", "DEFAULT_DATASET", "bundled_path",
            "dataset_names", "find_dataset", "load_dataset", "filter_min_counts",
            "first_fraction"]
from .split import (TrainTest, holdout_per_user, kfold, predefined_split, random_split,
                    split_from_spec, temporal_split, warm_split)
from .synthetic import PRESETS as SYNTHETIC_PRESETS
from .synthetic import make_like, make_ratings, synthetic_preset

__all__ += ["TrainTest", "random_split", "holdout_per_user", "warm_split", "temporal_split",
            "kfold", "predefined_split", "split_from_spec", "make_ratings", "make_like",
            "synthetic_preset", "SYNTHETIC_PRESETS"]
