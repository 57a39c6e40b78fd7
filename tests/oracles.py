"""Independent references for the scratchnn tests: torch's own ops with autograd.

Nothing here calls scratchnn, so a test that compares the package with these
oracles can fail when the package is wrong.
"""
import torch
import torch.nn.functional as F

# CUDA joins the device list only where it exists: no skipped params on CPU.
DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def autograd(fn, inputs, dout=None):
    """Forward value of fn(*inputs) and the gradients of sum(fn(*inputs) * dout).

    Inputs:
    - fn: function of tensors built from differentiable torch ops
    - inputs: list of tensors; each gets a fresh leaf copy
    - dout: upstream gradient shaped like the output; None means ones

    Returns (out detached, [grad of each input]).
    """
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    out = fn(*leaves)
    grads = torch.autograd.grad(out, leaves, grad_outputs=dout if dout is not None
                                else torch.ones_like(out))
    return out.detach(), list(grads)


def linear(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b


def batchnorm(x, gamma, beta, eps=1e-5):
    """Train-mode batch norm over dim 0 of (N, D), or over N, H, W of (N, C, H, W)."""
    return F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)


def layernorm(x, gamma, beta, eps=1e-5):
    return F.layer_norm(x, (x.shape[1],), gamma, beta, eps)


def groupnorm(x, gamma, beta, G, eps=1e-5):
    return F.group_norm(x, G, gamma, beta, eps)


def softmax_loss(x, y):
    return F.cross_entropy(x, y)


def fc_net_loss(params, X, y, num_layers, normalization=None, reg=0.0, dropout_masks=None):
    """The loss of a FullyConnectedNet, built from the same params with torch ops.

    Inputs:
    - params: dict W1..WL, b1..bL (and gamma/beta) of leaf tensors
    - X, y: a batch and its labels
    - normalization: None, 'batchnorm' or 'layernorm'
    - reg: adds reg * sum(W**2) over the weights only
    - dropout_masks: list of L-1 scaled keep masks (already divided by 1 - p), or None

    Returns the scalar loss.
    """
    h = X.reshape(X.shape[0], -1)
    for i in range(1, num_layers):
        h = linear(h, params[f'W{i}'], params[f'b{i}'])
        if normalization == 'batchnorm':
            h = batchnorm(h, params[f'gamma{i}'], params[f'beta{i}'])
        elif normalization == 'layernorm':
            h = layernorm(h, params[f'gamma{i}'], params[f'beta{i}'])
        h = F.relu(h)
        if dropout_masks is not None:
            h = h * dropout_masks[i - 1]
    scores = linear(h, params[f'W{num_layers}'], params[f'b{num_layers}'])
    loss = softmax_loss(scores, y)
    return loss + reg * sum((params[f'W{i}'] ** 2).sum() for i in range(1, num_layers + 1))


def rel(x, y):
    """Relative error ||x - y|| / (||x|| + ||y||), written out here so that the
    tests do not depend on scratchnn.gradcheck.rel_error being right."""
    x, y = x.double().cpu(), y.double().cpu()
    return ((x - y).norm() / (x.norm() + y.norm()).clamp_min(1e-12)).item()


def close(got, want, tol=1e-9, atol=1e-12):
    """||got - want|| <= tol * (||got|| + ||want||) + atol: relative, except for
    gradients that are zero in exact arithmetic (round-off on both sides)."""
    if got.shape != want.shape:
        return False
    got, want = got.double().cpu(), want.double().cpu()
    return ((got - want).norm() <= tol * (got.norm() + want.norm()) + atol).item()
