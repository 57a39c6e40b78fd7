"""Numeric gradient checking by central differences.

Two tools, with different costs:

- `numeric_gradient(f, x, dout)` builds the whole numeric gradient, one
  element at a time: 2 * x.numel() calls of f. Use it to look at a gradient
  of a small tensor element by element.
- `gradcheck(f, x, dx, dout)` checks an analytic gradient `dx` along a few
  random directions u: the numeric directional derivative
  (L(x + h u) - L(x - h u)) / 2h of L(x) = sum(f(x) * dout) must equal
  sum(dx * u). It costs 2 * num_directions calls of f, whatever the size of
  x, and a wrong gradient fails it with probability one: a random direction
  is orthogonal to the error only on a set of measure zero.

Run checks in float64: float32 round-off (~1e-7) divided by h swamps the
truncation error of the central difference.
"""
import torch


def rel_error(x, y, eps=1e-12):
    """Relative error ||x - y|| / (||x|| + ||y||) of two tensors, as a float.

    Norms are over all elements, so one tiny element cannot blow the error
    up; two zero tensors have error 0.
    """
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ, {tuple(x.shape)} vs {tuple(y.shape)}")
    x, y = x.double().cpu(), y.double().cpu()
    num = (x - y).norm().item()
    den = (x.norm() + y.norm()).item()
    return num / max(den, eps)


def _objective(f, x, dout):
    """sum(f(x) * dout) as a Python float."""
    out = f(x)
    return (out * dout).sum().item() if dout is not None else out.sum().item()


def numeric_gradient(f, x, dout=None, h=1e-6):
    """Numeric gradient of L(x) = sum(f(x) * dout) with respect to x.

    Inputs:
    - f: function of one tensor; returns a tensor (a scalar when dout is None)
    - x: input tensor of any shape; left unchanged
    - dout: upstream gradient, shaped like f(x); None means all ones
    - h: step of the central difference

    Returns a tensor shaped like x. Cost: 2 * x.numel() calls of f.
    """
    # Contiguous copies, so that view(-1) works for transposed or sliced x.
    xp = x.detach().clone(memory_format=torch.contiguous_format)
    grad = torch.zeros_like(xp)
    flat, grad_flat = xp.view(-1), grad.view(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + h
        plus = _objective(f, xp, dout)
        flat[i] = old - h
        minus = _objective(f, xp, dout)
        flat[i] = old
        grad_flat[i] = (plus - minus) / (2 * h)
    return grad


def directional_derivatives(f, x, directions, dout=None, h=1e-6):
    """Numeric derivatives of L(x) = sum(f(x) * dout) along each direction.

    Inputs:
    - f, x, dout, h: as for numeric_gradient
    - directions: (K, *x.shape) tensor of directions

    Returns a (K,) tensor. Cost: 2 * K calls of f.
    """
    out = torch.empty(len(directions), dtype=torch.float64)
    for k, u in enumerate(directions):
        plus = _objective(f, x + h * u, dout)
        minus = _objective(f, x - h * u, dout)
        out[k] = (plus - minus) / (2 * h)
    return out


def gradcheck(f, x, dx, dout=None, num_directions=8, h=1e-6, seed=0):
    """Relative error between an analytic gradient and numeric directional
    derivatives along random unit directions.

    Inputs:
    - f: function of one tensor (close over the other arguments)
    - x: input tensor; dx: the analytic gradient of sum(f(x) * dout), shaped like x
    - dout: upstream gradient shaped like f(x); None means all ones
    - num_directions, h: number of random directions and the difference step
    - seed: seeds a private generator; the global RNG is left alone

    Returns rel_error(analytic, numeric) over the directional derivatives;
    below ~1e-7 in float64 means the gradient is right.
    Cost: 2 * num_directions calls of f, independent of x.numel().
    """
    if dx.shape != x.shape:
        raise ValueError(f"gradcheck: dx has shape {tuple(dx.shape)}, x has {tuple(x.shape)}")
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn((num_directions, *x.shape), generator=gen, dtype=torch.float64)
    u = u / u.reshape(num_directions, -1).norm(dim=1).clamp_min(1e-30).view(-1, *[1] * x.dim())
    u = u.to(device=x.device, dtype=x.dtype)
    numeric = directional_derivatives(f, x, u, dout, h)
    analytic = (u * dx).reshape(num_directions, -1).sum(dim=1).double().cpu()
    return rel_error(analytic, numeric)
