"""Benchmark: the reference layers against torch's native ops, and the two
gradient checkers against each other.

    python benchmarks/bench_layers.py [--device cpu|cuda|auto] [--repeats 5]

Part 1 times forward + backward of each scratchnn layer (hand-written
backward) and of the same torch.nn.functional op with autograd, at a few
realistic sizes, in float32; the ratio is scratchnn / torch (above 1: slower).
Part 2 times scratchnn.check_gradient (a few random directions, 2 calls of f
each) against numeric_gradient (2 calls of f per element) in float64.
On CUDA every timing synchronizes the device, so it measures the work, not
the launch.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'solutions' / 'nn_from_scratch'))

from scratchnn import (BatchNorm, GroupNorm, LayerNorm, Linear, check_gradient,  # noqa: E402
                       numeric_gradient, softmax_loss)
from scratchnn.device import get_device  # noqa: E402


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def timed(fn, device, repeats, min_time=0.05):
    """Median seconds of one fn() call over `repeats` rounds; each round runs fn
    enough times to last about min_time, so short calls are measured too."""
    fn()  # warm-up: allocations, kernel selection
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    calls = max(1, int(min_time / max(time.perf_counter() - start, 1e-7)))
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync(device)
        rounds.append((time.perf_counter() - start) / calls)
    return statistics.median(rounds)


def randn(*shape, device, dtype=torch.float32):
    return torch.randn(*shape, device=device, dtype=dtype)


def torch_fwd_bwd(op, inputs, dout):
    """Forward + backward of a torch op with autograd."""
    leaves = [t.detach().requires_grad_(True) for t in inputs]

    def run():
        for t in leaves:
            t.grad = None
        op(*leaves).backward(dout)
    return run


# Each case: (name, size label, scratchnn forward+backward, torch forward+backward).
def batchnorm_case(N, D, device):
    x, gamma, beta, dout = randn(N, D, device=device), randn(D, device=device), randn(D, device=device), randn(N, D, device=device)

    def ours():
        out, cache = BatchNorm.forward(x, gamma, beta, {'mode': 'train'})
        BatchNorm.backward_alt(dout, cache)
    return ('BatchNorm', f'N={N} D={D}', ours,
            torch_fwd_bwd(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True), [x, gamma, beta], dout))


def layernorm_case(N, D, device):
    x, gamma, beta, dout = randn(N, D, device=device), randn(D, device=device), randn(D, device=device), randn(N, D, device=device)

    def ours():
        out, cache = LayerNorm.forward(x, gamma, beta, {})
        LayerNorm.backward(dout, cache)
    return ('LayerNorm', f'N={N} D={D}', ours,
            torch_fwd_bwd(lambda x, g, b: F.layer_norm(x, (D,), g, b), [x, gamma, beta], dout))


def groupnorm_case(N, C, H, G, device):
    x, dout = randn(N, C, H, H, device=device), randn(N, C, H, H, device=device)
    gamma, beta = randn(C, device=device), randn(C, device=device)

    def ours():
        out, cache = GroupNorm.forward(x, gamma, beta, G, {})
        GroupNorm.backward(dout, cache)
    return ('GroupNorm', f'{N}x{C}x{H}x{H} G={G}', ours,
            torch_fwd_bwd(lambda x, g, b: F.group_norm(x, G, g, b), [x, gamma, beta], dout))


def linear_case(N, D, M, device):
    x, w, b, dout = randn(N, D, device=device), randn(D, M, device=device), randn(M, device=device), randn(N, M, device=device)

    def ours():
        out, cache = Linear.forward(x, w, b)
        Linear.backward(dout, cache)
    return ('Linear', f'N={N} {D}->{M}', ours,
            torch_fwd_bwd(lambda x, w, b: x @ w + b, [x, w, b], dout))


def softmax_case(N, C, device):
    x = randn(N, C, device=device)
    y = torch.randint(C, (N,), device=device)
    return ('softmax_loss', f'N={N} C={C}', lambda: softmax_loss(x, y),
            torch_fwd_bwd(lambda x: F.cross_entropy(x, y), [x], torch.ones((), device=device)))


def layer_cases(device):
    return [
        batchnorm_case(128, 512, device), batchnorm_case(1024, 4096, device),
        layernorm_case(128, 512, device), layernorm_case(1024, 4096, device),
        groupnorm_case(32, 64, 16, 8, device), groupnorm_case(64, 128, 32, 32, device),
        linear_case(128, 3072, 100, device), linear_case(1024, 1024, 1024, device),
        softmax_case(128, 10, device), softmax_case(4096, 1000, device),
    ]


def gradcheck_cases(device):
    """(label, f, x, dx, dout): BatchNorm's dx at a few sizes, in float64."""
    cases = []
    for N, D in [(8, 16), (16, 64), (32, 128)]:
        x = randn(N, D, device=device, dtype=torch.float64)
        gamma, beta = randn(D, device=device, dtype=torch.float64), randn(D, device=device, dtype=torch.float64)
        dout = randn(N, D, device=device, dtype=torch.float64)

        def f(t, gamma=gamma, beta=beta):
            return BatchNorm.forward(t, gamma, beta, {'mode': 'train'})[0]
        _, cache = BatchNorm.forward(x, gamma, beta, {'mode': 'train'})
        dx = BatchNorm.backward_alt(dout, cache)[0]
        cases.append((f'BatchNorm dx, {N * D} elements', f, x, dx, dout))
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='auto', help="cpu, cuda or auto (default)")
    parser.add_argument('--repeats', type=int, default=5)
    args = parser.parse_args()
    device = get_device(args.device)
    torch.manual_seed(0)
    print(f"device: {device}   torch {torch.__version__}   threads: {torch.get_num_threads()}")

    print("\nforward + backward, float32 (median of rounds)")
    print(f"{'layer':<13}{'size':<22}{'scratchnn ms':>13}{'torch ms':>11}{'ratio':>8}")
    for name, size, ours, theirs in layer_cases(device):
        t_ours, t_torch = timed(ours, device, args.repeats), timed(theirs, device, args.repeats)
        print(f"{name:<13}{size:<22}{1e3 * t_ours:>13.3f}{1e3 * t_torch:>11.3f}{t_ours / t_torch:>8.2f}")

    print("\ngradient checks, float64: check_gradient (8 directions) vs numeric_gradient (every element)")
    print(f"{'check':<32}{'directional ms':>15}{'numeric ms':>12}{'speed-up':>10}{'agree':>8}")
    for label, f, x, dx, dout in gradcheck_cases(device):
        t_dir = timed(lambda: check_gradient(f, x, dx, dout), device, 1, min_time=0)
        start = time.perf_counter()
        numeric = numeric_gradient(f, x, dout)
        sync(device)
        t_num = time.perf_counter() - start
        agree = check_gradient(f, x, dx, dout) < 1e-7 and (numeric - dx).norm() < 1e-6 * dx.norm()
        print(f"{label:<32}{1e3 * t_dir:>15.2f}{1e3 * t_num:>12.1f}{t_num / t_dir:>10.0f}x{'yes' if agree else 'NO':>7}")


if __name__ == '__main__':
    main()
