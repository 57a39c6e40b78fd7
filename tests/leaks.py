"""The leak checks: what students get (the release, the published student
repository, a student's clone of it) holds no solution code, nothing from
autograder/ and no rubric detail. Each check returns the leaks it finds."""
import re
from pathlib import Path

import nbformat

from autograder.rubric import load_rubric
from conftest import RELEASE, REPO, SOLUTIONS
from autograder.blocks import BEGIN, END, find_blocks, stub_source

RUBRIC = load_rubric()
NOTEBOOKS = sorted({item.notebook for item in RUBRIC.values()})
# Rubric details that only the grader knows: the names of the hidden tests.
HIDDEN_TESTS = sorted({name for path in (REPO / 'autograder' / 'suites').glob('*.py')
                       for name in re.findall(r'^def (test_\w+)', path.read_text(), re.M)})
# Shorter lines ('cache = x', 'x = cache', 'return dx') also occur in code that
# is no solution; a leak of real solution code always includes longer lines.
MIN_LINE = 20


def release_files(root=RELEASE):
    """{relative path: bytes} of every file under root (not git's own)."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob('*'))
            if p.is_file() and not {'__pycache__', '.git'} & set(p.relative_to(root).parts)}


def solution_lines():
    """Non-trivial lines inside the solution blocks of the package and of the
    notebooks' answer cells."""
    lines = set()
    for path in sorted((SOLUTIONS / 'scratchnn').glob('*.py')):
        source = path.read_text().splitlines()
        for begin, end, _, _ in find_blocks(path.read_text(), str(path)):
            lines.update(line.strip() for line in source[begin + 1:end])
    for name in NOTEBOOKS:
        for cell in nbformat.read(SOLUTIONS / name, as_version=4).cells:
            inside = False
            for line in cell.source.splitlines():
                if BEGIN.match(line):
                    inside = True
                elif END.match(line):
                    inside = False
                elif inside:
                    lines.add(line.strip())
    # The text outside the blocks ships with the release: a docstring may state
    # what a block computes ('cache = (dropout_param, mask)'), which is no leak.
    public = '\n'.join(stub_source(p.read_text(), p.name) for p in (SOLUTIONS / 'scratchnn').glob('*.py'))
    return {line for line in lines
            if len(line) >= MIN_LINE and not line.startswith('#') and line not in public}


def release_text(root=RELEASE):
    return {path: data.decode() for path, data in release_files(root).items()}


def code_lines(text):
    """The stripped, non-blank lines of a text."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def release_code(root=RELEASE):
    """{path: stripped non-blank lines} of the release, notebooks by cell source."""
    out = {}
    for path, text in release_text(root).items():
        if path.endswith('.ipynb'):
            text = '\n'.join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
        out[path] = '\n'.join(code_lines(text))
    return out


def solution_leaks(root):
    """[(path, line)]: solution lines, or solution markers, in the files under root."""
    lines = solution_lines()
    assert len(lines) > 50, "the solution-line collector found too little to be meaningful"
    texts = release_text(root)
    return ([(path, line) for path, text in texts.items() for line in lines if line in text]
            + [(path, 'SOLUTION marker') for path, text in texts.items()
               if 'BEGIN SOLUTION' in text or 'END SOLUTION' in text])


def autograder_leaks(root):
    """[(path, what)]: a copy of an autograder file, or a run of three consecutive
    lines of one (single generic lines like `for dtype in (torch.float32,
    torch.float64):` may coincide), in the files under root."""
    sources = [p for p in sorted((REPO / 'autograder').rglob('*')) if p.is_file() and '__pycache__' not in p.parts]
    assert sources, "autograder/ is empty"
    released, raw = release_code(root), release_files(root)
    leaks = []
    for source in sources:
        data = source.read_bytes()
        leaks += [(path, f'a copy of {source.relative_to(REPO)}') for path, other in raw.items() if other == data]
        lines = [line for line in code_lines(data.decode(errors='replace')) if not line.startswith('#')]
        windows = {'\n'.join(lines[i:i + 3]) for i in range(len(lines) - 2)
                   if max(len(line) for line in lines[i:i + 3]) >= MIN_LINE}
        leaks += [(path, w) for path, text in released.items() for w in windows if w in text]
    return leaks


def rubric_leaks(root):
    """[(path, test)]: names of hidden tests (the rubric's per-test points) under root."""
    in_rubric = {test for item in RUBRIC.values() for test in item.tests}
    assert HIDDEN_TESTS and in_rubric <= set(HIDDEN_TESTS), "the hidden tests were not found"
    return [(path, test) for path, text in release_text(root).items() for test in HIDDEN_TESTS if test in text]
