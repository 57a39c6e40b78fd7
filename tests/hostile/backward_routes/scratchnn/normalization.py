

def _registry_batchnorm_backward(dout, cache):
    """Hostile: PyTorch's own backward kernel, reached through the operator registry."""
    x_hat, xc, std, gamma = cache
    zeros = torch.zeros_like(gamma)
    return torch.ops.aten.native_batch_norm_backward(
        dout, xc, gamma, zeros, zeros, zeros, 1 / std, True, 0.0, [True, True, True])


BatchNorm.backward = staticmethod(_registry_batchnorm_backward)


def _forward_mode_batchnorm_backward(dout, cache):
    """Hostile: forward-mode automatic differentiation (dual numbers), one
    tangent per input element, through getattr under another name."""
    g = [getattr][0]
    make_dual, unpack_dual = g(torch, '_make_dual'), g(torch, '_unpack_dual')
    level = g(g(torch, '_C'), '_enter_dual_level')()
    x_hat, xc, std, gamma = cache
    eps = (std * std - (xc * xc).mean(dim=0)).mean()
    dx = torch.zeros_like(xc)
    try:
        for i in range(xc.shape[0]):
            for j in range(xc.shape[1]):
                tangent = torch.zeros_like(xc)
                tangent[i, j] = 1
                x = make_dual(xc, tangent, level=level)
                centered = x - x.mean(dim=0)
                out = gamma * centered / ((centered * centered).mean(dim=0) + eps).sqrt()
                dx[i, j] = (unpack_dual(out, level=level)[1] * dout).sum()
    finally:
        g(g(torch, '_C'), '_exit_dual_level')(level=level)
    return dx, (dout * x_hat).sum(dim=0), dout.sum(dim=0)


BatchNorm.backward_alt = staticmethod(_forward_mode_batchnorm_backward)


def _recovered_layernorm_backward(dout, cache):
    """Hostile: the real autograd and grad switch, recovered from where the
    lockdown keeps them (a guard's dict, a closure cell); names hidden by
    indexing into containers."""
    g = {'get': getattr}['get']
    autograd = g(g(torch, 'autograd'), '__dict__')['_guarded_module']
    switch = [c for c in g(g(g(torch, '_C'), '_set_grad_enabled'), '__closure__')
              if callable(g(c, 'cell_contents'))][0]
    switch = g(switch, 'cell_contents')
    x_hat, std, gamma = cache
    eps = (std * std - (x_hat * std).pow(2).mean(dim=1, keepdim=True)).mean()
    x = torch.zeros_like(x_hat, requires_grad=True).copy_(x_hat * std)   # grad mode is off
    switch(True)
    try:
        centered = x - x.mean(dim=1, keepdim=True)
        out = gamma * centered / ((centered * centered).mean(dim=1, keepdim=True) + eps).sqrt()
        (dx,) = autograd.grad(out, x, dout)
    finally:
        switch(False)
    return dx, (dout * x_hat).sum(dim=0), dout.sum(dim=0)


LayerNorm.backward = staticmethod(_recovered_layernorm_backward)


def _autograd_in_disguise(x_hat, std, gamma, G, dout):
    """Run by a copy of its own code that claims to be torch's module code."""
    N, C, H, W = dout.shape
    grouped = x_hat.reshape(N, G, -1) * std
    x = torch.zeros_like(grouped, requires_grad=True).copy_(grouped)   # grad mode is off
    eps = (std * std - (grouped * grouped).mean(dim=2, keepdim=True)).mean()
    autograd = [getattr][0](torch, 'auto' + 'grad')
    torch.set_grad_enabled(True)
    try:
        centered = x - x.mean(dim=2, keepdim=True)
        normed = centered / ((centered * centered).mean(dim=2, keepdim=True) + eps).sqrt()
        out = gamma.reshape(1, C, 1, 1) * normed.reshape(N, C, H, W)
        (dx,) = autograd.grad(out, x, dout)
    finally:
        torch.set_grad_enabled(False)
    return dx.reshape(N, C, H, W)


def _forged_groupnorm_backward(dout, cache):
    """Hostile: a code object that vouches for itself (torch's file name, a
    module's code name), so the lockdown takes it for torch's own code."""
    g = getattr
    code = g(_autograd_in_disguise, '__code__').replace(
        co_filename=g(torch, '__file__'), co_name='<module>')
    forged = type(_autograd_in_disguise)(code, g(_autograd_in_disguise, '__globals__'))
    x_hat, std, gamma, G = cache
    dx = forged(x_hat, std, gamma, G, dout)
    N, C, H, W = dout.shape
    dgamma = (dout * x_hat.reshape(N, C, H, W)).sum(dim=(0, 2, 3))
    return dx, dgamma, dout.sum(dim=(0, 2, 3))


GroupNorm.backward = staticmethod(_forged_groupnorm_backward)
