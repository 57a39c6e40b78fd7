"""Argument checks shared by the layers: bad input gets a clear error.

These run before any student code, so a wrong shape or an unknown mode is
reported by name instead of surfacing as a cryptic matmul error.
"""
import torch


def tensor(name, t, ndim=None, min_ndim=None):
    """Raise unless `t` is a tensor of the given rank."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    if min_ndim is not None and t.dim() < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions, got shape {tuple(t.shape)}")


def shape(name, t, expected):
    """Raise unless `t.shape == expected`."""
    if tuple(t.shape) != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}, got {tuple(t.shape)}")


def mode(m, where):
    """Raise unless `m` is 'train' or 'test'."""
    if m not in ("train", "test"):
        raise ValueError(f"{where}: unknown mode {m!r}; expected 'train' or 'test'")


def labels(y, n, num_classes):
    """Raise unless `y` is an integer tensor of `n` labels."""
    tensor("y", y, ndim=1)
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} labels but the scores have {n} rows")
    if y.device.type != "meta" and n > 0:
        # Out-of-range labels would index garbage or raise deep inside torch.
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= num_classes:
            raise ValueError(f"labels must lie in [0, {num_classes}), got range [{low}, {high}]")
