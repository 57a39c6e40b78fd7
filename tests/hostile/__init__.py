"""Builds hostile submissions from the fixtures here (see README.md)."""
from pathlib import Path

from autograder.course import COURSE
from autograder.rubric import student_modules
from coursekit.submissions import Append, build_package

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
REFERENCE = COURSE.solution_package
STUDENT_MODULES = tuple(student_modules())


def make_submission(dest, cases=(), variant='scratchnn', repo=REPO):
    """A submission folder at dest: the reference student modules, with the
    snippets of each case (variant 'scratchnn': hostile, 'equivalent': honest
    twin) appended. repo: the folder the snippets take for the repository.
    Returns dest."""
    edits = {}
    for case in cases:
        for snippet in sorted((HERE / case / variant).glob('*.py')):
            text = snippet.read_text().replace('@REPO@', str(repo))
            text = text.replace('@SUBMISSION@', str(Path(dest).resolve()))
            edits.setdefault(snippet.stem, []).append(Append(text))
    build_package(Path(dest) / 'scratchnn', REFERENCE, edits, modules=STUDENT_MODULES)
    return Path(dest)


def modules_of(cases):
    """The student modules the cases touch."""
    return {p.stem for case in cases for p in (HERE / case / 'scratchnn').glob('*.py')}
