import math

import pytest
import torch

from tunesmith.errors import TunesmithError
from tunesmith.sampling.filters import SamplingSettings, filtered, temperature, top_k, top_p

# two rows, probabilities deliberately not in sorted order
PROBS = torch.tensor([[0.15, 0.5, 0.05, 0.3], [0.25, 0.25, 0.4, 0.1]])
LOGITS = torch.log(PROBS)


def kept(logits):
    return torch.isfinite(logits).tolist()


def test_temperature_scales_logits():
    assert torch.allclose(temperature(LOGITS, 2.0), LOGITS / 2)


def test_top_k_keeps_k_largest_per_row():
    assert kept(top_k(LOGITS, 2)) == [[False, True, False, True], [True, True, True, False]]
    assert kept(top_k(LOGITS, 1))[0] == [False, True, False, False]


def test_top_p_keeps_smallest_set_reaching_p_per_row():
    assert kept(top_p(LOGITS, 0.79)) == [[False, True, False, True], [True, True, True, False]]
    assert kept(top_p(LOGITS, 0.85)) == [[True, True, False, True], [True, True, True, False]]
    assert kept(top_p(LOGITS, 0.1)) == [[False, True, False, False], [False, False, True, False]]
    assert kept(top_p(LOGITS, 1.0)) == [[True] * 4, [True] * 4]


def test_filtered_renormalises_over_the_nucleus():
    p = filtered(LOGITS, SamplingSettings(top_p=0.79)).softmax(-1)
    assert math.isclose(p[0, 1].item(), 0.5 / 0.8, rel_tol=1e-5)
    assert p[0, 0].item() == 0.0


@pytest.mark.parametrize("kwargs", [{"temperature": 0}, {"temperature": -1},
                                    {"temperature": math.inf}, {"top_p": 0},
                                    {"top_p": 1.5}, {"top_k": -1}])
def test_bad_settings_are_user_errors(kwargs):
    with pytest.raises(TunesmithError):
        SamplingSettings(**kwargs)
