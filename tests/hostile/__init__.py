"""Builds hostile submissions from the fixtures here (see README.md)."""
import shutil
from pathlib import Path

from autograder.rubric import student_modules

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
REFERENCE = REPO / 'solutions' / 'nn_from_scratch' / 'scratchnn'
STUDENT_MODULES = tuple(student_modules())


def make_submission(dest, cases=(), variant='scratchnn'):
    """A submission folder at dest: the reference student modules, with the
    snippets of each case (variant 'scratchnn': hostile, 'equivalent': honest
    twin) appended. Returns dest."""
    package = Path(dest) / 'scratchnn'
    package.mkdir(parents=True)
    for name in STUDENT_MODULES:
        shutil.copyfile(REFERENCE / f'{name}.py', package / f'{name}.py')
    for case in cases:
        for snippet in sorted((HERE / case / variant).glob('*.py')):
            text = snippet.read_text().replace('@REPO@', str(REPO))
            text = text.replace('@SUBMISSION@', str(Path(dest).resolve()))
            with open(package / snippet.name, 'a') as f:
                f.write(text)
    return Path(dest)


def modules_of(cases):
    """The student modules the cases touch."""
    return {p.stem for case in cases for p in (HERE / case / 'scratchnn').glob('*.py')}
