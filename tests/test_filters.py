import math

import pytest
import torch

from tunesmith.errors import TunesmithError
from tunesmith.sampling.filters import SamplingSettings, filtered, temperature, top_k, top_p

LOGITS = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))


def test_temperature_scales_logits():
    assert torch.allclose(temperature(LOGITS, 2.0), LOGITS / 2)


def test_top_k_keeps_k_largest():
    out = top_k(LOGITS, 2)
    assert torch.isfinite(out).tolist() == [[True, True, False, False]]


def test_top_p_keeps_smallest_set_reaching_p():
    assert torch.isfinite(top_p(LOGITS, 0.8)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(top_p(LOGITS, 0.81)).tolist() == [[True, True, True, False]]
    assert torch.isfinite(top_p(LOGITS, 0.1)).tolist() == [[True, False, False, False]]
    p = filtered(LOGITS, SamplingSettings(top_p=0.8)).softmax(-1)
    assert math.isclose(p[0, 0].item(), 0.5 / 0.8, rel_tol=1e-5)


@pytest.mark.parametrize("kwargs", [{"temperature": 0}, {"temperature": -1}, {"top_p": 0},
                                    {"top_p": 1.5}, {"top_k": -1}])
def test_bad_settings_are_user_errors(kwargs):
    with pytest.raises(TunesmithError):
        SamplingSettings(**kwargs)
