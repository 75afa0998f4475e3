"""Resampling from the point of an error (sampling/repair.py), with a toy checker: a text
is rejected at its first 'x'. The drafts come from a seeded random generator."""

import random

import pytest

from tunesmith.sampling.repair import cut_point, draft_seed, resample_invalid

ALPHABET = "abx\n"


def check(texts):
    return {i: (t.index("x"), "an x") for i, t in enumerate(texts) if "x" in t}


def drafts(p_x):
    """draw(prefixes, n, seed, limits): continue each prefix by 8 random characters (or
    fewer, its limit; None: no limit), each an 'x' with probability p_x."""
    def draw(prefixes, n, seed, limits):
        rng = random.Random(seed)
        pick = lambda: "x" if rng.random() < p_x else rng.choice("ab\n")  # noqa: E731
        return [[p + "".join(pick() for _ in range(min(8, lim or 8))) for _ in range(n)]
                for p, lim in zip(prefixes, limits, strict=True)]
    return draw


def test_cut_points_move_back_a_line_per_attempt_and_never_into_the_primer():
    text = "K:D\nabab\nbaxa\n"
    at = text.index("x")
    assert cut_point(text, len(text), 0, floor=0) == text.index("baxa")  # at the very end
    assert cut_point(text, at, 0, floor=0) == at
    assert cut_point(text, at, 1, floor=0) == text.index("baxa")
    assert cut_point(text, at, 2, floor=0) == text.index("abab")
    assert cut_point(text, at, 3, floor=0) == 0
    assert cut_point(text, at, 3, floor=4) == 4


def test_rejected_texts_are_resampled_and_accepted_ones_kept():
    texts = ["K:Dabab", "K:Dabxb", "K:Dx", "K:Dbaba"]
    out, report = resample_invalid(texts, keep=3, check=check, draw=drafts(0.1), seed=1,
                                   attempts=6)
    assert out[0] == texts[0] and out[3] == texts[3]
    assert not check(out)
    assert out[1].startswith("K:Dab") and out[2].startswith("K:D")  # resampled from the x
    assert (report.rejected, report.repaired, report.still_invalid) == (2, 2, {})
    assert report.restarted == 0 and sum(report.by_attempt) == report.repaired  # by cuts
    assert report.drafts >= 8
    assert resample_invalid(texts, keep=3, check=check, draw=drafts(0.1), seed=1,
                            attempts=6)[0] == out


def test_the_primer_is_never_changed_and_hopeless_texts_are_reported():
    texts = ["xK:abab"]  # the error lies in the primer: no resampling can remove it
    out, report = resample_invalid(texts, keep=3, check=check, draw=drafts(0.0), attempts=2)
    assert out[0].startswith("xK:")
    assert report.still_invalid == {0: "an x"} and report.repaired == 0


def test_a_checker_that_always_rejects_stops_after_the_attempts():
    calls = []

    def never(texts):
        calls.append(len(texts))
        return {i: (len(t), "no") for i, t in enumerate(texts)}

    out, report = resample_invalid(["ab"], keep=0, check=never, draw=drafts(0.0),
                                   drafts=3, attempts=2, restart=False)
    assert calls == [1, 3, 3] and report.still_invalid == {0: "no"}
    assert len(out) == 1


def test_when_the_cuts_fail_the_text_is_drawn_afresh_from_the_primer():
    prefixes, limits_seen = [], []

    def draw(texts, n, seed, limits):
        prefixes.append(texts)
        limits_seen.append(limits)
        return drafts(0.0)(texts, n, seed, limits)

    def rejects_until_restart(texts):  # an error at the end, caused by the first line
        return {i: (len(t) - 1, "zz") for i, t in enumerate(texts) if "zz" in t}

    text = "K:D\nzz\nab\nab"
    out, report = resample_invalid([text], keep=3, check=rejects_until_restart, draw=draw,
                                   attempts=2)
    assert prefixes[0] == [text[:-1]]  # at the error, then at its line's start
    assert prefixes[1][0].startswith("K:D\nzz\nab\n") and prefixes[1][0].endswith("\n")
    assert prefixes[2] == ["K:D"]  # then afresh from the primer, with a first draw's budget
    assert None not in limits_seen[0] + limits_seen[1] and limits_seen[2] == [None]
    assert (report.repaired, report.restarted, report.by_attempt) == (1, 1, [0, 0, 1])
    assert out[0].startswith("K:D") and "zz" not in out[0]


@pytest.mark.parametrize("p_x", [0.05, 0.3])
def test_kept_drafts_are_the_first_passing_draft_in_draw_order(p_x):
    """Rejection sampling: the kept continuation is the first accepted one of its batch."""
    texts = ["abx"]
    draw = drafts(p_x)
    out, _ = resample_invalid(texts, keep=0, check=check, draw=draw, seed=5, attempts=1,
                              restart=False)
    batch = draw(["ab"], 4, draft_seed(5, 0), [200])[0]
    passing = [c for c in batch if "x" not in c]
    assert out[0] == (passing[0] if passing else max(batch, key=lambda c: c.find("x")))


def test_at_error_every_cut_goes_on_from_the_draft_that_got_furthest():
    """A text with an error per line (a bar that breaks its meter, say) is mended line by
    line: each cut is at the current error, never a line back."""
    prefixes = []

    def draw(texts, n, seed, limits):
        prefixes.append(texts)
        return drafts(0.05)(texts, n, seed, limits)

    text = "K:D\nabab\nxbab\nxbab"
    out, report = resample_invalid([text], keep=3, check=check, draw=draw, seed=2,
                                   attempts=3, restart=False, at_error=True)
    cuts = [len(p[0]) for p in prefixes]
    assert cuts[0] == text.index("x") and cuts == sorted(cuts)  # never moves back
    assert all(p[0].startswith(text[:text.index("x")]) for p in prefixes)


def test_the_attempt_from_the_primer_may_draw_more_drafts():
    sizes = []

    def draw(texts, n, seed, limits):
        sizes.append(n)
        return drafts(0.9)(texts, n, seed, limits)

    resample_invalid(["K:x"], keep=2, check=check, draw=draw, attempts=1, drafts=4,
                     restart_drafts=16)
    assert sizes == [4, 16]
