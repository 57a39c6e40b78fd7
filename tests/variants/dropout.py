"""Correct but unusual dropout masks (other RNG consumption, other caches)."""
from mistakes import Case


MASK = "mask = (torch.rand_like(x) >= p).to(x.dtype) / (1 - p)"

CASES = {
    'dropout_bernoulli': Case({'dropout': [
        (MASK, "mask = torch.bernoulli(torch.full_like(x, 1 - p)) / (1 - p)")]}),
    'dropout_rand_less_than_keep_and_bool_cache': Case({'dropout': [
        (MASK + "\n            out = x * mask",
         "keep = torch.rand(x.shape, device=x.device) < 1 - p\n"
         "            out = torch.where(keep, x / (1 - p), torch.zeros_like(x))\n"
         "            mask = (keep, p)"),
        ("dx = dout * mask", "dx = torch.where(mask[0], dout / (1 - mask[1]), torch.zeros_like(dout))")]}),
    'dropout_empty_uniform': Case({'dropout': [
        (MASK, "mask = (torch.empty_like(x).uniform_(0, 1) > p).to(x.dtype) * (1.0 / (1 - p))")]}),
    'dropout_seed_is_not_none': Case({'dropout': [
        # The falsy-safe twin of `if dropout_param.get('seed'):`.
        ("        if 'seed' in dropout_param:\n", "        if dropout_param.get('seed') is not None:\n")]}),
}
