"""Correct normalization layers derived or reshaped differently."""
from mistakes import Case, Def



CASES = {
    'batchnorm_backward_other_derivations': Case({'normalization': [
        Def('BatchNorm.backward', '''
def backward(dout, cache):
    # Through x_hat: dx = gamma / std * (dout - mean(dout) - x_hat * mean(dout * x_hat)).
    x_hat, _, std, gamma = cache
    dbeta = dout.sum(dim=0)
    dgamma = (dout * x_hat).sum(dim=0)
    dx = gamma / std * (dout - dout.mean(dim=0) - x_hat * (dout * x_hat).mean(dim=0))
    return dx, dgamma, dbeta
'''),
        Def('BatchNorm.backward_alt', '''
def backward_alt(dout, cache):
    x_hat, xc, std, gamma = cache
    N = dout.shape[0]
    dbeta = dout.sum(dim=0)
    dgamma = (dout * x_hat).sum(dim=0)
    inv = 1.0 / std
    dx = (gamma * inv / N) * (N * dout - dbeta - xc * inv * dgamma)
    return dx, dgamma, dbeta
''')]}),
    'groupnorm_and_spatial_by_reshape_tricks': Case({'normalization': [
        ("groups = x.reshape(N, G, -1)\n        mean = groups.mean(dim=2, keepdim=True)\n"
         "        xc = groups - mean\n        std = ((xc * xc).mean(dim=2, keepdim=True) + eps).sqrt()",
         "groups = x.reshape(N * G, -1)\n"
         "        var, mean = torch.var_mean(groups, dim=1, unbiased=False, keepdim=True)\n"
         "        xc = (groups - mean).reshape(N, G, -1)\n"
         "        std = (var + eps).sqrt().reshape(N, G, 1)"),
        ("rows = x.permute(0, 2, 3, 1).reshape(-1, C)\n        out, cache = BatchNorm.forward",
         "rows = x.transpose(0, 1).reshape(C, -1).T\n        out, cache = BatchNorm.forward"),
        ("out = out.reshape(N, H, W, C).permute(0, 3, 1, 2)",
         "out = out.T.reshape(C, N, H, W).transpose(0, 1)"),
        ("rows = dout.permute(0, 2, 3, 1).reshape(-1, C)",
         "rows = dout.transpose(0, 1).reshape(C, -1).T"),
        ("dx = dx.reshape(N, H, W, C).permute(0, 3, 1, 2)",
         "dx = dx.T.reshape(C, N, H, W).transpose(0, 1)")]}),
    'layernorm_as_transposed_batchnorm': Case({'normalization': [
        Def('LayerNorm.forward', '''
def forward(x, gamma, beta, ln_param):
    _checks.tensor("x", x, ndim=2)
    _check_affine(x.shape[1], gamma, beta)
    eps = ln_param.get('eps', 1e-5)
    ones = torch.ones(x.shape[0], dtype=x.dtype, device=x.device)
    x_hat_t, bn_cache = BatchNorm.forward(x.T, ones, ones * 0, {'mode': 'train', 'eps': eps})
    out = gamma * x_hat_t.T + beta
    return out, (x_hat_t.T, bn_cache, gamma)
'''),
        Def('LayerNorm.backward', '''
def backward(dout, cache):
    x_hat, bn_cache, gamma = cache
    dx_t, _, _ = BatchNorm.backward_alt((dout * gamma).T, bn_cache)
    return dx_t.T, (dout * x_hat).sum(dim=0), dout.sum(dim=0)
''')]}, uses=['batchnorm_forward', 'batchnorm_backward_alt']),
}

CASES.update({
    'batchnorm_running_statistics_updated_in_place': Case({'normalization': [
        # As torch's own batch_norm does (the contract lets train mode write them).
        ("            running_mean = momentum * running_mean + (1 - momentum) * mean\n"
         "            running_var = momentum * running_var + (1 - momentum) * var\n",
         "            running_mean = running_mean.mul_(momentum).add_((1 - momentum) * mean)\n"
         "            running_var = running_var.mul_(momentum).add_((1 - momentum) * var)\n")]}),
    'spatial_batchnorm_written_out_with_a_dict_cache': Case({'normalization': [
        Def('SpatialBatchNorm.forward', '''
@staticmethod
def forward(x, gamma, beta, bn_param):
    _checks.tensor("x", x, ndim=4)
    _check_affine(x.shape[1], gamma, beta)
    mode = bn_param['mode']
    eps, momentum = bn_param.get('eps', 1e-5), bn_param.get('momentum', 0.9)
    shape = (1, -1, 1, 1)
    if mode == 'train':
        var, mean = torch.var_mean(x, dim=(0, 2, 3), unbiased=False)
        bn_param['running_mean'] = momentum * bn_param.get('running_mean', torch.zeros_like(mean)) + (1 - momentum) * mean
        bn_param['running_var'] = momentum * bn_param.get('running_var', torch.zeros_like(var)) + (1 - momentum) * var
    else:
        mean, var = bn_param['running_mean'], bn_param['running_var']
    x_hat = (x - mean.view(shape)) / (var.view(shape) + eps).sqrt()
    cache = {'x_hat': x_hat, 'inv_std': (var + eps).rsqrt(), 'gamma': gamma, 'unused': mode}
    return gamma.view(shape) * x_hat + beta.view(shape), cache
'''),
        Def('SpatialBatchNorm.backward', '''
@staticmethod
def backward(dout, cache):
    x_hat, inv_std, gamma = cache['x_hat'], cache['inv_std'], cache['gamma']
    M = dout.shape[0] * dout.shape[2] * dout.shape[3]
    dbeta = dout.sum(dim=(0, 2, 3))
    dgamma = (dout * x_hat).sum(dim=(0, 2, 3))
    dx = (gamma * inv_std).view(1, -1, 1, 1) / M * (
        M * dout - dbeta.view(1, -1, 1, 1) - x_hat * dgamma.view(1, -1, 1, 1))
    return dx, dgamma, dbeta
''')]}),
    'layernorm_in_float64_then_cast_back': Case({'normalization': [
        ("        mean = x.mean(dim=1, keepdim=True)\n        xc = x - mean\n"
         "        std = ((xc * xc).mean(dim=1, keepdim=True) + eps).sqrt()\n"
         "        x_hat = xc / std\n        out = gamma * x_hat + beta\n        cache = (x_hat, std, gamma)",
         "        x64 = x.double()\n        mean = x64.mean(dim=1, keepdim=True)\n        xc = x64 - mean\n"
         "        std = ((xc * xc).mean(dim=1, keepdim=True) + eps).sqrt()\n"
         "        x_hat = (xc / std).to(x.dtype)\n        std = std.to(x.dtype)\n"
         "        out = gamma * x_hat + beta\n        cache = (x_hat, std, gamma)")]}),
})

CASES.update({
    'variances_by_torch_var_and_by_shifted_data': Case({'normalization': [
        # The stable twins of E[x^2] - E[x]^2: torch's two-pass var, and the
        # shifted-data form (squares of x minus one of its own values: no large offset left).
        ("var = (xc * xc).mean(dim=0)", "var = x.var(dim=0, unbiased=False)"),
        ("std = ((xc * xc).mean(dim=1, keepdim=True) + eps).sqrt()",
         "shifted = x - x[:, :1]\n"
         "        var = (shifted * shifted).mean(dim=1, keepdim=True) - shifted.mean(dim=1, keepdim=True) ** 2\n"
         "        std = (var + eps).sqrt()"),
        # Falsy-safe reads of eps and momentum.
        ("eps = bn_param.get('eps', 1e-5)", "eps = bn_param['eps'] if bn_param.get('eps') is not None else 1e-5"),
        ("momentum = bn_param.get('momentum', 0.9)",
         "momentum = 0.9 if bn_param.get('momentum') is None else bn_param['momentum']")]}),
})
