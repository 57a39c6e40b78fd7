"""Typical mistakes in scratchnn/normalization.py."""
from mistakes import Case

S = ['test_normalization.py']
BACKWARDS = ['batchnorm_backward', 'batchnorm_backward_alt', 'spatial_batchnorm_backward']

CASES = {
    'batchnorm_unbiased_variance': Case(
        {'normalization': [("var = (xc * xc).mean(dim=0)",
                            "var = (xc * xc).sum(dim=0) / (x.shape[0] - 1)")]},
        S, loses=['batchnorm_forward', 'spatial_batchnorm_forward'], may_lose=BACKWARDS),
    'batchnorm_running_momentum_swapped': Case(
        {'normalization': [
            ("running_mean = momentum * running_mean + (1 - momentum) * mean",
             "running_mean = (1 - momentum) * running_mean + momentum * mean"),
            ("running_var = momentum * running_var + (1 - momentum) * var",
             "running_var = (1 - momentum) * running_var + momentum * var")]},
        S, loses=['batchnorm_forward', 'spatial_batchnorm_forward']),
    'batchnorm_eps_outside_sqrt': Case(
        {'normalization': [("std = (var + eps).sqrt()\n", "std = var.sqrt() + eps\n")]},
        S, loses=['batchnorm_forward', 'spatial_batchnorm_forward'], may_lose=BACKWARDS),
    'batchnorm_test_mode_uses_batch_stats': Case(
        {'normalization': [("x_hat = (x - running_mean) / (running_var + eps).sqrt()",
                            "x_hat = (x - x.mean(dim=0)) / (x.var(dim=0, unbiased=False) + eps).sqrt()")]},
        S, loses=['batchnorm_forward', 'spatial_batchnorm_forward']),
    'batchnorm_backward_missing_dvar_term': Case(
        {'normalization': [("        dxc = dxc + 2 * xc * dvar / N\n", "")]},
        S, loses=['batchnorm_backward']),
    'batchnorm_backward_alt_wrong_N': Case(
        {'normalization': [("(dx_hat * x_hat).sum(dim=0)) / (N * std)", "(dx_hat * x_hat).sum(dim=0)) / (dout.shape[1] * std)")]},
        S, loses=['batchnorm_backward_alt'], may_lose=['spatial_batchnorm_backward']),
    'spatial_batchnorm_reshape_without_permute': Case(
        {'normalization': [("rows = x.permute(0, 2, 3, 1).reshape(-1, C)",
                            "rows = x.reshape(-1, C)"),
                           ("out = out.reshape(N, H, W, C).permute(0, 3, 1, 2)",
                            "out = out.reshape(N, C, H, W)")]},
        S, loses=['spatial_batchnorm_forward'], may_lose=['spatial_batchnorm_backward']),
    'layernorm_normalizes_over_the_batch': Case(
        {'normalization': [("mean = x.mean(dim=1, keepdim=True)", "mean = x.mean(dim=0, keepdim=True)"),
                           ("std = ((xc * xc).mean(dim=1, keepdim=True) + eps).sqrt()",
                            "std = ((xc * xc).mean(dim=0, keepdim=True) + eps).sqrt()")]},
        S, loses=['layernorm_forward'], may_lose=['layernorm_backward']),
    'layernorm_backward_dgamma_not_summed': Case(
        {'normalization': [("dgamma = (dout * x_hat).sum(dim=0)\n        dx_hat = dout * gamma\n        dx = (D",
                            "dgamma = (dout * x_hat).mean(dim=0)\n        dx_hat = dout * gamma\n        dx = (D")]},
        S, loses=['layernorm_backward']),
    'groupnorm_channels_last_split': Case(
        {'normalization': [("groups = x.reshape(N, G, -1)", "groups = x.permute(0, 2, 3, 1).reshape(N, G, -1)"),
                           ("x_hat = (xc / std).reshape(N, C, H, W)",
                            "x_hat = (xc / std).reshape(N, H, W, C).permute(0, 3, 1, 2)")]},
        S, loses=['groupnorm_forward'], may_lose=['groupnorm_backward']),
    'groupnorm_backward_wrong_group_size': Case(
        {'normalization': [("M = dx_hat.shape[2]", "M = dx_hat.shape[2] // H")]},
        S, loses=['groupnorm_backward']),
}
