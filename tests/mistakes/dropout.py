"""Typical mistakes in scratchnn/dropout.py."""
from mistakes import Case

S = ['test_dropout.py']
MASK = "mask = (torch.rand_like(x) >= p).to(x.dtype) / (1 - p)"

CASES = {
    'dropout_not_scaled': Case(
        {'dropout': [(MASK, "mask = (torch.rand_like(x) >= p).to(x.dtype)")]},
        S, loses=['dropout_forward']),
    'dropout_scales_at_test_time': Case(
        {'dropout': [("            out = x\n", "            out = x * (1 - p)\n")]},
        S, loses=['dropout_forward']),
    'dropout_keeps_with_probability_p': Case(
        {'dropout': [(MASK, "mask = (torch.rand_like(x) < p).to(x.dtype) / (1 - p)")]},
        S, loses=['dropout_forward']),
    'dropout_one_mask_per_feature': Case(
        {'dropout': [(MASK, "mask = (torch.rand_like(x[:1]) >= p).to(x.dtype) / (1 - p)")]},
        S, loses=['dropout_forward']),
    'dropout_backward_draws_a_new_mask': Case(
        {'dropout': [("dx = dout * mask",
                      "p = cache[0]['p']\n"
                      "            dx = dout * (torch.rand_like(dout) >= p).to(dout.dtype) / (1 - p)")]},
        S, loses=['dropout_backward']),
}
