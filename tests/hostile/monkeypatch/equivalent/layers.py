

def _wrong_linear_forward(x, w, b):
    out = torch.zeros(x.shape[0], w.shape[1], dtype=x.dtype, device=x.device)
    return out, (x, w, b)


Linear.forward = staticmethod(_wrong_linear_forward)
