"""A small class of sample submissions, for the demo and the pipeline test.

Each student is a release folder (notebooks + scratchnn/) whose student
modules come from one of four sources:

- ada:  the complete solution;
- ben:  the blank release, untouched;
- cy:   the solution with three typical mistakes;
- eve:  the solution with hostile code that must be contained.

EXPECTED gives the total each must score: the demo prints it beside the real
grade, and the pipeline test asserts it.
"""
import shutil
from pathlib import Path

STUDENT_MODULES = ('layers', 'dropout', 'normalization', 'init', 'optim')

# (module, text in the solution, replacement): each a mistake students make.
MISTAKES = [
    # No max-shift: exp overflows at scores of 1000.
    ('layers', 'shifted = x - x.max(dim=1, keepdim=True).values', 'shifted = x'),
    # The unbiased variance, where BatchNorm normalizes with the biased one.
    ('normalization', 'var = (xc * xc).mean(dim=0)', 'var = (xc * xc).sum(dim=0) / (x.shape[0] - 1)'),
    # Adam without bias correction: a cold start.
    ('optim', 'm_hat = m / (1 - beta1 ** t)', 'm_hat = m'),
]

# Hostile code, each in a function whose item alone must pay for it.
HOSTILE = [
    # Try to fake results and read what the sandbox hides, at import time.
    ('layers', 'from . import _checks\n', '''from . import _checks
import glob as _glob, os as _os, torch as _torch
_torch.allclose = lambda *a, **k: True          # cannot fool a grader in another process
for _d in ('.', '..', '../..', '/tmp'):
    try:
        with open(_os.path.join(_d, 'results.json'), 'w') as _f:
            _f.write('{"score": 100, "max_score": 100, "tests": []}')
    except OSError:
        pass
_STOLEN = _glob.glob('/**/solutions/**/*.py', recursive=True)[:1]
'''),
    # An infinite loop.
    ('optim', "    g = dw + config['weight_decay'] * w\n    next_w = w - config['learning_rate'] * g\n",
     "    while True:\n        pass\n"),
    # Killing the process that runs it.
    ('normalization', "        N, C, H, W = x.shape\n        groups = x.reshape(N, G, -1)\n",
     "        import os\n        os._exit(0)\n"),
    # Eating memory.
    ('dropout', "        _, mask = cache\n", "        _, mask = cache\n        hog = [bytearray(1 << 30) for _ in range(64)]\n"),
]

EXPECTED = {
    'ada': 100,
    'ben': 0,
    'cy': 100 - 5 - 5 - 3,       # softmax_loss, batchnorm_forward, adam (at most)
    'eve': 100 - 2 - 3 - 3 - 3,  # sgd, groupnorm_forward/backward, dropout_backward
}


def _patched(source, patches, module):
    for mod, old, new in patches:
        if mod == module:
            if old not in source:
                raise ValueError(f"sample patch for {module}.py no longer matches the solution: {old!r}")
            source = source.replace(old, new, 1)
    return source


def make_submission(student, release_dir, solution_pkg, dest):
    """Write `student`'s submission folder at dest (replacing it)."""
    release_dir, solution_pkg, dest = Path(release_dir), Path(solution_pkg), Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(release_dir, dest)
    if student == 'ben':
        return dest
    patches = {'ada': [], 'cy': MISTAKES, 'eve': HOSTILE}[student]
    for module in STUDENT_MODULES:
        source = (solution_pkg / f'{module}.py').read_text()
        (dest / 'scratchnn' / f'{module}.py').write_text(_patched(source, patches, module))
    return dest
