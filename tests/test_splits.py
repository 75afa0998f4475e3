from tunesmith.data.splits import split_items, split_of


def test_split_is_by_content_and_ignores_the_rest_of_the_corpus():
    tunes = [f"M:4/4\nK:D\n{'DEFG' * (i % 7)}|{i}|]\n" for i in range(500)]
    alone = [split_of(t) for t in tunes]
    shuffled = split_items(list(reversed(tunes)) + ["extra tune"])
    where = {s: {tunes[::-1][i] for i in idx if i < len(tunes)} for s, idx in shuffled.items()}
    for t, s in zip(tunes, alone, strict=True):
        assert t in where[s]
    counts = {s: alone.count(s) for s in ("train", "valid", "test")}
    assert counts["valid"] > 5 and counts["test"] > 5 and counts["train"] > 400


def test_a_small_corpus_gets_a_validation_tune_and_a_large_one_is_split_by_hash_alone():
    tunes = [f"M:4/4\nK:D\n{'DEFG' * (i % 7)}|{i}|]\n" for i in range(40)]
    plain = {s: [i for i, t in enumerate(tunes) if split_of(t) == s]
             for s in ("train", "valid", "test")}
    small = [t for i, t in enumerate(tunes) if i in plain["train"]][:30]
    assert not any(split_of(t) != "train" for t in small)  # the hash alone: no valid tune
    items = small + small[:2]  # two tunes twice
    got = split_items(items)
    where = {s: {items[i] for i in idx} for s, idx in got.items()}
    assert len(where["valid"]) == 1 and len(where["test"]) == 1  # one distinct tune each
    assert not (where["valid"] | where["test"]) & where["train"]  # copies follow their tune
    assert sum(map(len, got.values())) == len(items)
    assert split_items(small) == split_items(list(small))  # a function of the tunes
    assert split_items(["a", "b"])["valid"] == []  # too few to hold one out: said by train
    assert split_items(tunes) == plain  # validation not empty: the hash split as it was


def test_too_few_training_tunes_to_lend_one_keep_the_hash_split():
    held = ["k27", "k57", "k100"]  # each hashes into test
    assert [split_of(k) for k in held] == ["test"] * 3
    assert split_items(held) == {"train": [], "valid": [], "test": [0, 1, 2]}
    two = split_items(held[:2] + ["a", "b"])  # 2 train tunes: none lent to validation
    assert two["valid"] == [] and len(two["train"]) == 2
