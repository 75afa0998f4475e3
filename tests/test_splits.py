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
