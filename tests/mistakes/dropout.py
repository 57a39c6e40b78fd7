"""Typical mistakes in scratchnn/dropout.py."""
from mistakes import Case

MASK = "mask = (torch.rand_like(x) >= p).to(x.dtype) / (1 - p)"

CASES = {
    'dropout_not_scaled': Case(
        {'dropout': [(MASK, "mask = (torch.rand_like(x) >= p).to(x.dtype)")]},
        loses=['dropout_forward']),
    'dropout_scales_at_test_time': Case(
        {'dropout': [("            out = x\n", "            out = x * (1 - p)\n")]},
        loses=['dropout_forward']),
    'dropout_keeps_with_probability_p': Case(
        {'dropout': [(MASK, "mask = (torch.rand_like(x) < p).to(x.dtype) / (1 - p)")]},
        loses=['dropout_forward']),
    'dropout_one_mask_per_feature': Case(
        {'dropout': [(MASK, "mask = (torch.rand_like(x[:1]) >= p).to(x.dtype) / (1 - p)")]},
        loses=['dropout_forward']),
    'dropout_masks_in_place': Case(
        {'dropout': [("            out = x * mask", "            out = x.mul_(mask)")]},
        loses=['dropout_forward']),
    'dropout_mask_ignores_the_seed': Case(
        # Reseeds, then draws from a generator of its own that the seed never reaches.
        {'dropout': [(MASK, "gen = torch.Generator(device=x.device)\n"
                            "            gen.seed()\n"
                            "            mask = (torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)"
                            " >= p).to(x.dtype) / (1 - p)")]},
        # The net's train mode cannot be compared under masks the seed does not
        # fix: not charged there (one mistake, one item), nor checked.
        loses=['dropout_forward'], uses=['fc_net']),
    'dropout_seed_zero_taken_for_absent': Case(
        # A falsy value taken for an absent one: seed=0 never reseeds.
        {'dropout': [("        if 'seed' in dropout_param:\n", "        if dropout_param.get('seed'):\n")]},
        loses=['dropout_forward'], uses=['fc_net']),   # whose seed-0 dropout case it leaves unchecked
    'dropout_backward_draws_a_new_mask': Case(
        {'dropout': [("dx = dout * mask",
                      "p = cache[0]['p']\n"
                      "            dx = dout * (torch.rand_like(dout) >= p).to(dout.dtype) / (1 - p)")]},
        loses=['dropout_backward']),
    'dropout_backward_modifies_dout_in_place': Case(
        {'dropout': [("dx = dout * mask", "dx = dout.mul_(mask)")]},
        loses=['dropout_backward']),
}
