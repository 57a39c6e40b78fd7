

def _autograd_linear_backward(dout, cache):
    """Hostile: lets autograd compute the backward pass (no banned spelling:
    requires_grad_ and .backward() on tensors of its own)."""
    x, w, b = cache
    x, w, b = (t.detach().clone().requires_grad_() for t in (x, w, b))
    out = x.reshape(x.shape[0], -1) @ w + b
    out.backward(dout)
    return x.grad, w.grad, b.grad


Linear.backward = staticmethod(_autograd_linear_backward)


def _autograd_relu_backward(dout, cache):
    """Hostile: a leaf made with requires_grad=True, the grad read back; the
    refusal it meets is caught, hoping to fall back unnoticed."""
    x = cache
    try:
        leaf = torch.tensor(x.tolist(), dtype=x.dtype, requires_grad=True)
        torch.relu(leaf).backward(dout)
        return leaf.grad
    except Exception:
        return dout * (x > 0)


ReLU.backward = staticmethod(_autograd_relu_backward)
