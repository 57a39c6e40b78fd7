"""Typical mistakes in scratchnn/normalization.py."""
from mistakes import Case

BACKWARDS = ['batchnorm_backward', 'batchnorm_backward_alt']
UNBIASED = ("var = (xc * xc).mean(dim=0)", "var = (xc * xc).sum(dim=0) / (x.shape[0] - 1)")

CASES = {
    'batchnorm_unbiased_variance': Case(
        {'normalization': [UNBIASED]},
        loses=['batchnorm_forward'],
        # Its backward passes (the reference ones) are right for the true layer, but
        # wrong for this forward: no grader can tell them apart, so they name it.
        cascades=BACKWARDS + ['train_deep_batchnorm']),
    'batchnorm_unbiased_variance_with_backwards_exact_for_it': Case(
        # A wrong forward with exact backward passes: only the forward loses.
        {'normalization': [UNBIASED,
                           ("dxc = dxc + 2 * xc * dvar / N", "dxc = dxc + 2 * xc * dvar / (N - 1)"),
                           ("x_hat * (dx_hat * x_hat).sum(dim=0)) / (N * std)",
                            "x_hat * (dx_hat * x_hat).sum(dim=0) * N / (N - 1)) / (N * std)")]},
        loses=['batchnorm_forward'], cascades=['train_deep_batchnorm']),
    'batchnorm_running_momentum_swapped': Case(
        {'normalization': [
            ("running_mean = momentum * running_mean + (1 - momentum) * mean",
             "running_mean = (1 - momentum) * running_mean + momentum * mean"),
            ("running_var = momentum * running_var + (1 - momentum) * var",
             "running_var = (1 - momentum) * running_var + momentum * var")]},
        loses=['batchnorm_forward'], cascades=['train_deep_batchnorm']),
    'batchnorm_running_var_unbiased_as_torch': Case(
        {'normalization': [("running_var = momentum * running_var + (1 - momentum) * var",
                            "running_var = momentum * running_var + (1 - momentum) * x.var(dim=0)")]},
        loses=['batchnorm_forward'], cascades=['train_deep_batchnorm']),
    'batchnorm_running_var_tracks_the_std': Case(
        {'normalization': [("running_var = momentum * running_var + (1 - momentum) * var",
                            "running_var = momentum * running_var + (1 - momentum) * std")]},
        loses=['batchnorm_forward'], cascades=['train_deep_batchnorm']),
    'batchnorm_eps_outside_sqrt': Case(
        {'normalization': [("std = (var + eps).sqrt()\n", "std = var.sqrt() + eps\n")]},
        loses=['batchnorm_forward'], cascades=BACKWARDS + ['train_deep_batchnorm']),
    'batchnorm_test_mode_uses_batch_stats': Case(
        {'normalization': [("x_hat = (x - running_mean) / (running_var + eps).sqrt()",
                            "x_hat = (x - x.mean(dim=0)) / (x.var(dim=0, unbiased=False) + eps).sqrt()")]},
        loses=['batchnorm_forward']),
    'batchnorm_test_mode_ignores_eps': Case(
        {'normalization': [("x_hat = (x - running_mean) / (running_var + eps).sqrt()",
                            "x_hat = (x - running_mean) / (running_var + 1e-5).sqrt()")]},
        loses=['batchnorm_forward']),
    'batchnorm_centers_x_in_place': Case(
        {'normalization': [("            mean = x.mean(dim=0)\n            xc = x - mean\n",
                            "            mean = x.mean(dim=0)\n            xc = x.sub_(mean)\n")]},
        loses=['batchnorm_forward']),
    'batchnorm_variance_by_cancellation': Case(
        # E[x^2] - E[x]^2: off by 1e-5 on values about 1e6, where two passes are exact.
        {'normalization': [("var = (xc * xc).mean(dim=0)", "var = (x * x).mean(dim=0) - mean * mean")]},
        loses=['batchnorm_forward']),
    'batchnorm_eps_zero_taken_for_absent': Case(
        {'normalization': [("eps = bn_param.get('eps', 1e-5)", "eps = bn_param.get('eps') or 1e-5")]},
        loses=['batchnorm_forward']),
    'batchnorm_momentum_zero_taken_for_absent': Case(
        {'normalization': [("momentum = bn_param.get('momentum', 0.9)",
                            "momentum = bn_param.get('momentum') or 0.9")]},
        loses=['batchnorm_forward']),
    'batchnorm_backward_dgamma_kept_2d': Case(
        # dgamma and dbeta of shape (1, D): SpatialBatchNorm's backward only
        # reshapes around this one, so it is charged nothing.
        {'normalization': [("        dx = (N * dx_hat - dx_hat.sum(dim=0) - x_hat * (dx_hat * x_hat).sum(dim=0)) / (N * std)\n"
                            "        dgamma, dbeta = (dout * x_hat).sum(dim=0), dout.sum(dim=0)\n",
                            "        dx = (N * dx_hat - dx_hat.sum(dim=0) - x_hat * (dx_hat * x_hat).sum(dim=0)) / (N * std)\n"
                            "        dgamma = (dout * x_hat).sum(dim=0, keepdim=True)\n"
                            "        dbeta = dout.sum(dim=0, keepdim=True)\n")]},
        # The net's training run checks its gradients' shapes against the oracle's.
        loses=['batchnorm_backward_alt'], cascades=['train_deep_batchnorm']),
    'batchnorm_backward_missing_dvar_term': Case(
        {'normalization': [("        dxc = dxc + 2 * xc * dvar / N\n", "")]},
        loses=['batchnorm_backward']),
    'batchnorm_backward_recomputes_std_with_default_eps': Case(
        {'normalization': [("        x_hat, xc, std, gamma = cache\n        N = dout.shape[0]\n        dbeta",
                            "        x_hat, xc, _, gamma = cache\n"
                            "        std = ((xc * xc).mean(dim=0) + 1e-5).sqrt()\n"
                            "        N = dout.shape[0]\n        dbeta")]},
        loses=['batchnorm_backward']),
    'batchnorm_backward_scales_dout_in_place': Case(
        {'normalization': [("        dx_hat = dout * gamma\n        # x_hat = xc / std",
                            "        dx_hat = dout.mul_(gamma)\n        # x_hat = xc / std")]},
        loses=['batchnorm_backward']),
    'batchnorm_backward_alt_wrong_N': Case(
        {'normalization': [("(dx_hat * x_hat).sum(dim=0)) / (N * std)",
                            "(dx_hat * x_hat).sum(dim=0)) / (dout.shape[1] * std)")]},
        # The net takes this backward pass: its training run names it.
        loses=['batchnorm_backward_alt'], cascades=['train_deep_batchnorm']),
    'spatial_batchnorm_reshape_without_permute': Case(
        {'normalization': [("rows = x.permute(0, 2, 3, 1).reshape(-1, C)", "rows = x.reshape(-1, C)"),
                           ("out = out.reshape(N, H, W, C).permute(0, 3, 1, 2)", "out = out.reshape(N, C, H, W)")]},
        loses=['spatial_batchnorm_forward'], cascades=['spatial_batchnorm_backward']),
    'spatial_batchnorm_view_on_a_non_contiguous_input': Case(
        {'normalization': [("rows = x.permute(0, 2, 3, 1).reshape(-1, C)",
                            "rows = x.view(N, C, H * W).transpose(1, 2).reshape(-1, C)")]},
        loses=['spatial_batchnorm_forward'], cascades=['spatial_batchnorm_backward']),
    'layernorm_normalizes_over_the_batch': Case(
        {'normalization': [("mean = x.mean(dim=1, keepdim=True)", "mean = x.mean(dim=0, keepdim=True)"),
                           ("std = ((xc * xc).mean(dim=1, keepdim=True) + eps).sqrt()",
                            "std = ((xc * xc).mean(dim=0, keepdim=True) + eps).sqrt()")]},
        loses=['layernorm_forward'], cascades=['layernorm_backward']),
    'layernorm_ignores_eps': Case(
        {'normalization': [("std = ((xc * xc).mean(dim=1, keepdim=True) + eps).sqrt()",
                            "std = ((xc * xc).mean(dim=1, keepdim=True) + 1e-5).sqrt()")]},
        loses=['layernorm_forward']),
    'layernorm_variance_by_cancellation': Case(
        {'normalization': [("std = ((xc * xc).mean(dim=1, keepdim=True) + eps).sqrt()",
                            "std = ((x * x).mean(dim=1, keepdim=True) - mean * mean + eps).sqrt()")]},
        loses=['layernorm_forward']),
    'layernorm_eps_zero_taken_for_absent': Case(
        {'normalization': [("eps = ln_param.get('eps', 1e-5)", "eps = ln_param.get('eps') or 1e-5")]},
        loses=['layernorm_forward']),
    'layernorm_backward_dgamma_not_summed': Case(
        {'normalization': [("dgamma = (dout * x_hat).sum(dim=0)\n        dx_hat = dout * gamma\n        dx = (D",
                            "dgamma = (dout * x_hat).mean(dim=0)\n        dx_hat = dout * gamma\n        dx = (D")]},
        loses=['layernorm_backward']),
    'groupnorm_channels_last_split': Case(
        {'normalization': [("groups = x.reshape(N, G, -1)", "groups = x.permute(0, 2, 3, 1).reshape(N, G, -1)"),
                           ("x_hat = (xc / std).reshape(N, C, H, W)",
                            "x_hat = (xc / std).reshape(N, H, W, C).permute(0, 3, 1, 2)")]},
        loses=['groupnorm_forward'], cascades=['groupnorm_backward']),
    'groupnorm_ignores_eps': Case(
        {'normalization': [("std = ((xc * xc).mean(dim=2, keepdim=True) + eps).sqrt()",
                            "std = ((xc * xc).mean(dim=2, keepdim=True) + 1e-5).sqrt()")]},
        loses=['groupnorm_forward']),
    'groupnorm_view_on_a_non_contiguous_input': Case(
        {'normalization': [("groups = x.reshape(N, G, -1)", "groups = x.view(N, G, -1)")]},
        loses=['groupnorm_forward'], cascades=['groupnorm_backward']),
    'groupnorm_backward_wrong_group_size': Case(
        {'normalization': [("M = dx_hat.shape[2]", "M = dx_hat.shape[2] // H")]},
        loses=['groupnorm_backward']),
}
