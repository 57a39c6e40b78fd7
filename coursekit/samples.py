"""A small class of sample submissions, for the demo and the pipeline test.

Each student is a release folder (notebooks + scratchnn/) whose student
modules come from one of four sources:

- ada:  the complete solution;
- ben:  the blank release, untouched;
- cy:   the solution with three typical mistakes, and debugging output on stderr;
- eve:  the solution with hostile code that must be contained.

STUDENTS says which items each must lose, and only there: the demo prints
whether the grades came out as expected, and the pipeline test asserts it.
"""
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from autograder.rubric import student_modules

from .submissions import build_package


# (module, text in the solution, replacement): each a mistake students make.
MISTAKES = [
    # No max-shift: exp overflows at scores of 1000.
    ('layers', 'shifted = x - x.max(dim=1, keepdim=True).values', 'shifted = x'),
    # Test mode normalizes with the batch's statistics, not the running ones.
    ('normalization', 'x_hat = (x - running_mean) / (running_var + eps).sqrt()',
     'x_hat = (x - x.mean(dim=0)) / (x.var(dim=0, unbiased=False) + eps).sqrt()'),
    # Adam without bias correction: a cold start.
    ('optim', 'm_hat = m / (1 - beta1 ** t)', 'm_hat = m'),
    # Not a mistake, a habit: debugging output on stderr, which must never
    # cost a point (stock nbgrader zeroes a cell that writes to stderr).
    ('layers', 'from . import _checks\n', "from . import _checks\nimport sys as _sys, warnings as _warnings\n"
     "print('debug: importing layers', file=_sys.stderr)\n_warnings.warn('a student warning')\n"),
    ('layers', '        out = x.reshape(x.shape[0], -1) @ w + b\n',
     "        out = x.reshape(x.shape[0], -1) @ w + b\n        print('debug: forward', file=_sys.stderr)\n"),
]

# Hostile code, each in a function whose item alone must pay for it.
HOSTILE = [
    # Fake results, read what the sandbox hides and patch torch, then kill the
    # process: in a function whose item it costs alone (the rule check refuses
    # open, os and the like; the sandbox contains them all the same).
    ('normalization', "        N, C, H, W = x.shape\n        groups = x.reshape(N, G, -1)\n", '''        import os
        torch.allclose = lambda *a, **k: True          # cannot fool a grader in another process
        for d in ('.', '..', '../..', '/tmp'):
            try:
                with open(os.path.join(d, 'results.json'), 'w') as f:
                    f.write('{"score": 100, "max_score": 100, "tests": []}')
            except OSError:
                pass
        stolen = []
        for d in ('../solutions', '../../solutions', '/work', os.path.expanduser('~'), '/proc/1/root'):
            try:
                stolen.append(os.listdir(d))   # nothing of the course is in the sandbox
            except OSError:
                pass
        os._exit(0)
'''),
    # An infinite loop.
    ('optim', "    g = dw + config['weight_decay'] * w\n    next_w = w - config['learning_rate'] * g\n",
     "    while True:\n        pass\n"),
    # Eating memory.
    ('dropout', "        _, mask = cache\n", "        _, mask = cache\n        hog = [bytearray(1 << 30) for _ in range(64)]\n"),
]



@dataclass(frozen=True)
class Sample:
    """A sample student: the patches applied to the solution (None: the blank
    release), the items whose points it must lose, the items it may cost only
    through them (every failed test there names one of `loses` as its cause:
    a backward pass fed by its own wrong forward, a training run of its net),
    the items its hostile code may cost, and its exact total where it is fixed.
    Every other item must keep full marks."""
    patches: Optional[list]
    loses: frozenset = frozenset()
    cascades: frozenset = frozenset()
    may_lose: frozenset = frozenset()
    total: Optional[float] = None


STUDENTS = {
    'ada': Sample(patches=[], total=100),
    'ben': Sample(patches=None, total=0),
    # Each mistake costs its own item, and only it.
    'cy': Sample(MISTAKES, loses=frozenset({'softmax_loss', 'batchnorm_forward', 'adam'}),
                 total=94.875),
    'eve': Sample(HOSTILE, loses=frozenset({'sgd', 'dropout_backward', 'groupnorm_forward',
                                             'groupnorm_backward'}),
                  may_lose=frozenset({'fc_net'})),  # its dropout nets run the memory hog
}


def expectation(student):
    """What `student` should score, for the demo's table."""
    sample = STUDENTS[student]
    if sample.total is not None:
        return f'{sample.total:g}'
    return 'between'


def surprises(student, results):
    """How results differ from what `student` must score; [] when as expected."""
    sample, items = STUDENTS[student], results['items']
    problems = []
    if sample.total is not None and results['score'] != sample.total:
        problems.append(f"total {results['score']:g}, expected {sample.total:g}")
    for item, points in items.items():
        full, zero = points['score'] == points['max_score'], points['score'] == 0
        if sample.patches is None:
            if not zero:
                problems.append(f"{item}: {points['score']:g} points for a blank stub")
        elif item in sample.loses:
            if full:
                problems.append(f"{item}: full marks despite the mistake")
        elif item in sample.cascades:
            causes = {t.get('caused_by') for t in results['tests']
                      if t['number'] == item and t['score'] < t['max_score']}
            if not causes <= sample.loses:
                problems.append(f"{item}: lost points without naming one of {sorted(sample.loses)} "
                                f"as the cause")
        elif item not in sample.may_lose and not full:
            problems.append(f"{item}: lost points ({points['score']:g} / {points['max_score']:g})")
    return problems


def make_submission(student, release_dir, solution_pkg, dest):
    """Write `student`'s submission folder at dest (replacing it)."""
    release_dir, solution_pkg, dest = Path(release_dir), Path(solution_pkg), Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(release_dir, dest)
    patches = STUDENTS[student].patches
    if patches is None:
        return dest
    edits = {}
    for module, old, new in patches:
        edits.setdefault(module, []).append((old, new))
    build_package(dest / 'scratchnn', solution_pkg, edits, modules=student_modules())
    return dest
