"""Where tensors live: one helper that notebooks, the Solver and the tests share."""
import torch


def get_device(device=None):
    """The torch.device to compute on.

    device: None or 'auto' picks CUDA when present, else the CPU; anything
    else ('cpu', 'cuda', 'cuda:1', 'meta', a torch.device) is taken as named.
    Asking for CUDA on a machine without it is an error, not a silent CPU run.
    """
    if device is None or device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = torch.device(device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError(f"device {device} was requested but CUDA is not available")
    if device.type == 'cuda' and device.index is None:
        # A tensor on it reports its index (cuda:0), and torch.device('cuda')
        # != torch.device('cuda:0'): name it the way its tensors will.
        device = torch.device('cuda', torch.cuda.current_device())
    return device


def to_device(obj, device):
    """A copy of obj with every tensor moved to device; dicts, lists and
    tuples are walked, anything else is returned as is."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def describe(device=None):
    """A one-line description of the device, for notebook setup cells."""
    device = get_device(device)
    if device.type == 'cuda':
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)
