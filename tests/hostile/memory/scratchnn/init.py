

def xavier_uniform(Din, Dout, K=None, gain=1.0, device='cpu', dtype=torch.float32):
    """Hostile: asks for 50 GB, twice."""
    try:
        hog = torch.ones(50 * 10**9, dtype=torch.uint8)
    except RuntimeError:
        hog = bytearray(50 * 10**9)
    return hog
