"""splits.split_clips / assign_folds / Split and metrics.grouped_bootstrap_interval (issue 11).

The property test draws random clip tables (random labels, random groups including clips without
one, several rows per clip as a render of windows gives, folds that hold whole groups as the
benchmarks' do) and checks what every split promises: no group and no clip on two sides, every
clip on exactly one side, the test fold and the validation fold taken exactly, the same seed giving
the same split. Derandomized like tests/test_fuzz_audio.py, so CI explores the same examples on
every run.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiospec_utils.exceptions import DatasetError, ParameterError
from audiospec_utils.learn.metrics import grouped_bootstrap_interval
from audiospec_utils.audio.splits import PER_CLIP_WARNING, Split, assign_folds, clip_table, split_clips

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@st.composite
def clip_tables(draw):
    """A table of image rows: clip_id, label, group ("" = none), fold; 1-3 rows per clip (windows).

    Folds are drawn per group (a group never spans two folds, as in UrbanSound8K and ESC-50);
    clips without a group get a fold of their own drawing.
    """
    n_clips = draw(st.integers(2, 40))
    labels = draw(st.lists(st.sampled_from(["dog", "rain", "siren", "a b, c"]), min_size=n_clips, max_size=n_clips))
    n_groups = draw(st.integers(1, 12))
    no_groups = draw(st.integers(0, 3)) == 0  # a quarter of the tables have no groups at all: per clip
    some_group = st.one_of(st.just(""), st.integers(0, n_groups - 1).map(lambda g: f"rec{g}"))
    groups = [""] * n_clips if no_groups else draw(st.lists(some_group, min_size=n_clips, max_size=n_clips))
    n_folds = draw(st.integers(2, 4))
    fold_of_group = {f"rec{g}": str(draw(st.integers(1, n_folds))) for g in range(n_groups)}
    windows = draw(st.lists(st.integers(1, 3), min_size=n_clips, max_size=n_clips))
    rows = []
    for i in range(n_clips):
        fold = fold_of_group[groups[i]] if groups[i] else str(draw(st.integers(1, n_folds)))
        for w in range(windows[i]):
            rows.append({"clip_id": f"clip{i}", "label": labels[i], "group": groups[i], "fold": fold,
                         "image": f"images/clip{i}_w{w}.png"})
    order = draw(st.permutations(range(len(rows))))  # windows of one clip need not be adjacent
    return pd.DataFrame([rows[j] for j in order])


def _n_splits(valid_pct):
    return max(2, int(round(1 / valid_pct)))


@PROPERTY
@given(table=clip_tables(), valid_pct=st.sampled_from([0.2, 0.25, 0.34, 0.5, 0.1]), seed=st.integers(0, 2**31 - 1),
       test_choice=st.integers(-1, 3), valid_choice=st.integers(-1, 3))
def test_no_group_or_clip_is_ever_on_two_sides(table, valid_pct, seed, test_choice, valid_choice):
    folds = sorted(set(table["fold"]))
    test_fold = folds[test_choice] if 0 <= test_choice < len(folds) else None
    valid_fold = folds[valid_choice] if 0 <= valid_choice < len(folds) else None
    clips = table.drop_duplicates("clip_id").set_index("clip_id")
    if valid_fold is not None and valid_fold == test_fold:
        with pytest.raises(ParameterError, match="valid_fold and test_fold"):
            split_clips(table, valid_pct=valid_pct, seed=seed, test_fold=test_fold, valid_fold=valid_fold, warn=False)
        return
    rest = clips[clips["fold"] != test_fold] if test_fold is not None else clips
    if valid_fold is None:
        keys = [g if g else f"clip:{c}" for c, g in zip(rest.index, rest["group"])]
        if len(set(keys)) < _n_splits(valid_pct):
            with pytest.raises(DatasetError, match="needs at least"):
                split_clips(table, valid_pct=valid_pct, seed=seed, test_fold=test_fold, warn=False)
            return
    elif (rest["fold"] == valid_fold).all():
        with pytest.raises(DatasetError, match="no clip is left to train on"):
            split_clips(table, seed=seed, test_fold=test_fold, valid_fold=valid_fold, warn=False)
        return

    split = split_clips(table, valid_pct=valid_pct, seed=seed, test_fold=test_fold, valid_fold=valid_fold, warn=False)
    c = split.clips
    # every clip exactly once, on exactly one side
    assert sorted(c["clip_id"]) == sorted(clips.index) and c["clip_id"].is_unique
    assert set(c["side"]) <= {"train", "valid", "test"}
    assert sorted(split.train_ids + split.valid_ids + split.test_ids) == sorted(clips.index)
    # the windows (rows) of one clip all get their clip's side
    sides = pd.Series(split.side_of(table["clip_id"]), index=table.index)
    assert (sides != "").all() and (sides.groupby(table["clip_id"]).nunique() == 1).all()
    # no group on two sides
    grouped = c[c["group"] != ""]
    assert (grouped.groupby("group")["side"].nunique() == 1).all()
    # the test fold is exactly the clips of that fold
    if test_fold is None:
        assert split.test_ids == [] and split.test_fold is None
    else:
        assert set(split.test_ids) == set(clips.index[clips["fold"] == test_fold]) and split.test_fold == test_fold
    # validation: exactly the validation fold, or a non-empty share drawn from the other folds
    assert split.train_ids, "nothing left to train on"
    assert split.valid_ids, "nothing to validate on"
    if valid_fold is not None:
        assert split.split_by == "fold" and split.valid_fold == valid_fold
        assert set(split.valid_ids) == set(clips.index[clips["fold"] == valid_fold])
    else:
        assert split.split_by == ("group" if (rest["group"] != "").any() else "clip")
        assert set(split.valid_ids) <= set(rest.index)
    # labels and groups come from the table, untouched
    assert (c.set_index("clip_id")["label"] == clips["label"].reindex(c["clip_id"])).all()
    # the same seed gives the same split; to_dict agrees with the table
    again = split_clips(table, valid_pct=valid_pct, seed=seed, test_fold=test_fold, valid_fold=valid_fold, warn=False)
    assert again.clips["side"].tolist() == c["side"].tolist() and again.fingerprint() == split.fingerprint()
    d = split.to_dict()
    assert (d["n_train"], d["n_valid"], d["n_test"]) == (len(split.train_ids), len(split.valid_ids),
                                                         len(split.test_ids))
    assert not set(d["train_groups"]) & set(d["valid_groups"])


def _grouped(n_groups=10, per_group=3, labels=("a", "b"), folds=None):
    rows = []
    for g in range(n_groups):
        for j in range(per_group):
            rows.append({"clip_id": f"g{g}_{j}", "label": labels[g % len(labels)], "group": f"rec{g}",
                         "fold": str(folds[g]) if folds is not None else ""})
    return pd.DataFrame(rows)


def _ungrouped(n=20, labels=("a", "b")):
    return pd.DataFrame({"clip_id": [f"c{i}" for i in range(n)], "label": [labels[i % len(labels)] for i in range(n)]})


def test_per_clip_split_says_so_once(caplog):
    table = _ungrouped()
    with caplog.at_level(logging.WARNING, logger="audiospec_utils.audio.splits"):
        split = split_clips(table, valid_pct=0.25, seed=1)
    said = [r for r in caplog.records if r.getMessage() == PER_CLIP_WARNING]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    assert split.split_by == "clip" and not split.has_groups
    assert len(split.valid_ids) == 5 and len(split.train_ids) == 15
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="audiospec_utils.audio.splits"):
        split_clips(table, valid_pct=0.25, seed=1, warn=False)
    assert not [r for r in caplog.records if r.getMessage() == PER_CLIP_WARNING]


def test_grouped_split_is_by_group_and_says_nothing_per_clip(caplog):
    table = _grouped(n_groups=10, per_group=3)
    with caplog.at_level(logging.WARNING, logger="audiospec_utils.audio.splits"):
        split = split_clips(table, valid_pct=0.2, seed=0)
    assert split.split_by == "group" and split.has_groups
    assert not [r for r in caplog.records if r.getMessage() == PER_CLIP_WARNING]
    assert split.clips.groupby("group")["side"].nunique().max() == 1
    assert split.to_dict()["n_valid_groups"] == 2  # 10 groups, 5 splits: 2 groups in validation
    assert set(split.valid_clips["label"]) == {"a", "b"}  # stratified: both labels validated


def test_a_different_seed_can_give_a_different_split():
    table = _grouped(n_groups=20, per_group=2)
    fingerprints = {split_clips(table, seed=s).fingerprint() for s in range(6)}
    assert len(fingerprints) > 1


def test_unknown_fold_names_the_folds():
    table = _grouped(n_groups=6, folds=[1, 2, 3, 1, 2, 3])
    with pytest.raises(ParameterError, match=r"test_fold=9.*not a fold.*its folds are 1, 2, 3"):
        split_clips(table, test_fold=9)
    with pytest.raises(ParameterError, match=r"valid_fold='x'.*its folds are 1, 2, 3"):
        split_clips(table, valid_fold="x")
    with pytest.raises(ParameterError, match="has no folds"):
        split_clips(_grouped(n_groups=6), test_fold=1)
    # 3, "3", 3.0 and " 3" all name fold "3"
    for name in (3, "3", 3.0, " 3"):
        assert split_clips(table, test_fold=name, valid_fold=1).test_fold == "3"


def test_valid_fold_equal_to_test_fold_is_refused():
    table = _grouped(n_groups=6, folds=[1, 2, 3, 1, 2, 3])
    with pytest.raises(ParameterError, match="valid_fold and test_fold are both '2'"):
        split_clips(table, test_fold=2, valid_fold="2")


def test_too_few_groups_for_the_validation_split():
    with pytest.raises(DatasetError, match="needs at least 5 groups.*found 3"):
        split_clips(_grouped(n_groups=3, per_group=10), valid_pct=0.2)
    with pytest.raises(DatasetError, match="needs at least 5 clips.*found 4"):
        split_clips(_ungrouped(4), valid_pct=0.2)
    # the test fold is taken out first: the groups left must suffice
    table = _grouped(n_groups=6, folds=[1, 1, 1, 1, 2, 2])
    with pytest.raises(DatasetError, match="found 2"):
        split_clips(table, valid_pct=0.34, test_fold=1)


@pytest.mark.parametrize("valid_pct", [0, 1, -0.2, 1.5, "0.2", None, float("nan")])
def test_bad_valid_pct(valid_pct):
    with pytest.raises(ParameterError, match="valid_pct"):
        split_clips(_grouped(), valid_pct=valid_pct)


def test_one_clip_with_two_labels_is_refused():
    table = pd.DataFrame({"clip_id": ["x", "x", "y"], "label": ["a", "b", "a"]})
    with pytest.raises(DatasetError, match="'x' has rows with different labels"):
        clip_table(table)


def test_clip_table_one_row_per_clip_with_text_group_and_fold():
    table = pd.DataFrame({"clip_id": ["x", "x", "y", "z"], "label": ["a", "a", "b", "b"],
                          "group": ["r1", "r1", None, ""], "fold": [1.0, 1.0, np.nan, "2"], "path": ["p", "q", "r", "s"]})
    c = clip_table(table)
    assert c["clip_id"].tolist() == ["x", "y", "z"]
    assert c["group"].tolist() == ["r1", "", ""] and c["fold"].tolist() == ["1", "", "2"]
    assert c["group_key"].tolist() == ["r1", "clip:y", "clip:z"] and c["path"].tolist() == ["p", "r", "s"]


def test_assign_folds_keeps_groups_together_and_is_stratified():
    table = _grouped(n_groups=20, per_group=3)  # 10 groups per label
    folds = assign_folds(table, k=5, seed=0)
    assert folds.index.name == "clip_id" and sorted(folds.index) == sorted(table["clip_id"])
    assert set(folds) == {"1", "2", "3", "4", "5"}
    joined = table.drop(columns="fold").set_index("clip_id").join(folds)
    assert (joined.groupby("group")["fold"].nunique() == 1).all()
    per_label = joined.groupby("label")["fold"].nunique()
    assert (per_label == 5).all()  # each label has 10 groups: it lands in every fold
    assert assign_folds(table, k=5, seed=0).equals(folds)  # same seed, same folds
    # clips without groups: one clip is one group
    plain = assign_folds(_ungrouped(10), k=3)
    assert sorted(plain.value_counts().tolist()) == [3, 3, 4]


def test_assign_folds_errors():
    with pytest.raises(ParameterError, match="k must be an integer >= 2"):
        assign_folds(_grouped(), k=1)
    with pytest.raises(ParameterError, match="k must be"):
        assign_folds(_grouped(), k=2.5)
    with pytest.raises(DatasetError, match="5 folds need at least 5 groups.*found 3"):
        assign_folds(_grouped(n_groups=3, per_group=4), k=5)


def test_split_to_dict_and_describe():
    keys = {"split_by", "seed", "valid_pct", "test_fold", "valid_fold", "n_train", "n_valid", "n_test",
            "n_train_groups", "n_valid_groups", "train_folds", "valid_folds", "test_folds", "train_groups",
            "valid_groups"}
    grouped = split_clips(_grouped(n_groups=10, per_group=2), valid_pct=0.2, seed=0)
    d = grouped.to_dict()
    assert set(d) == keys and d["split_by"] == "group" and d["n_train"] + d["n_valid"] == 20 and d["n_test"] == 0
    assert d["n_train_groups"] == len(d["train_groups"]) and d["n_valid_groups"] == len(d["valid_groups"])
    text = grouped.describe()
    assert "by group" in text and f"{d['n_valid_groups']} groups in validation" in text and "held out" not in text

    folded = split_clips(_grouped(n_groups=6, folds=[1, 2, 3, 1, 2, 3]), test_fold=3, valid_fold=2)
    d = folded.to_dict()
    assert set(d) == keys and d["split_by"] == "fold" and d["valid_pct"] is None
    assert (d["train_folds"], d["valid_folds"], d["test_folds"]) == (["1"], ["2"], ["3"])
    text = folded.describe()
    assert "validation is fold 2" in text and f"fold 3 ({d['n_test']} clips) held out" in text

    per_clip = split_clips(_ungrouped(10), valid_pct=0.2, warn=False)
    d = per_clip.to_dict()
    assert d["split_by"] == "clip" and d["train_groups"] == [] and d["valid_groups"] == []
    assert "per clip" in per_clip.describe()
    assert isinstance(per_clip, Split) and per_clip.vocab == ["a", "b"]


# ---------------------------------------------------------------------------------------------
# grouped_bootstrap_interval


def test_interval_contains_the_mean():
    rng = np.random.default_rng(0)
    values = (rng.random(60) < 0.7).astype(float)
    groups = [f"g{i // 3}" for i in range(60)]
    lo, hi = grouped_bootstrap_interval(values, groups)
    assert 0 <= lo <= values.mean() <= hi <= 1 and lo < hi


def test_interval_is_wider_when_the_same_clips_are_clustered_into_few_groups():
    values = np.array([1.0] * 20 + [0.0] * 20)
    independent = grouped_bootstrap_interval(values)  # every clip its own group
    assert grouped_bootstrap_interval(values, [""] * 40) == independent  # "" = no group = own group
    clustered = grouped_bootstrap_interval(values, [f"g{i // 10}" for i in range(40)])  # 4 groups of 10 alike clips
    assert clustered[1] - clustered[0] > 1.5 * (independent[1] - independent[0])
    for lo, hi in (independent, clustered):
        assert lo <= 0.5 <= hi


def test_interval_of_one_group_is_nan():
    lo, hi = grouped_bootstrap_interval([1, 0, 1, 1], ["g"] * 4)
    assert np.isnan(lo) and np.isnan(hi)
    lo, hi = grouped_bootstrap_interval([1.0])
    assert np.isnan(lo) and np.isnan(hi)


def test_interval_errors():
    with pytest.raises(ParameterError, match="one entry per value"):
        grouped_bootstrap_interval([1, 0, 1], ["a", "b"])
    with pytest.raises(ParameterError, match="confidence"):
        grouped_bootstrap_interval([1, 0, 1], confidence=1.0)


def test_interval_is_reproducible_and_follows_confidence():
    rng = np.random.default_rng(1)
    values = rng.random(50)
    groups = [f"g{i % 12}" for i in range(50)]
    assert grouped_bootstrap_interval(values, groups, seed=3) == grouped_bootstrap_interval(values, groups, seed=3)
    lo95, hi95 = grouped_bootstrap_interval(values, groups, confidence=0.95)
    lo50, hi50 = grouped_bootstrap_interval(values, groups, confidence=0.5)
    assert lo95 < lo50 < hi50 < hi95


@pytest.mark.parametrize("groups", [None, ["g1", "g2", "g3", "g4", "g5", "g6"]])
def test_small_labels_give_a_split_or_a_clear_error(groups):
    from audiospec_utils.exceptions import AudiospecError

    table = pd.DataFrame({"clip_id": list("abcdef"), "label": ["dog"] * 4 + ["rain"] * 2})
    if groups is not None:
        table["group"] = groups
    for call in (lambda: split_clips(table, valid_pct=0.2, warn=False), lambda: assign_folds(table, k=5)):
        try:
            call()
        except AudiospecError:
            pass  # a clear DatasetError (too few clips per label) is as good as a split
