"""Which version of the grader this is: a fingerprint every grading machine must share.

    grader_fingerprint()  -> 'sha256 hex'

It covers everything a grade depends on: the hidden suites, the rubric, the
trusted given modules of scratchnn that the sandbox and the suites load, the
grader's own code (autograder/, isolation/, integrations/), and the torch
version the suites compare against. Two machines with the same fingerprint grade a submission the same
way; a worker whose fingerprint differs from the instructor's refuses to grade.
"""
import hashlib
import importlib.metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent


def graded_files():
    """[(name, path)] of every file the fingerprint covers, in a fixed order."""
    from .isolation.sandbox import TRUSTED_MODULES, trusted_package
    from .rubric import RUBRIC
    files = [(f'autograder/{p.relative_to(HERE).as_posix()}', p)
             for group in ('.', 'isolation', 'integrations') for p in sorted((HERE / group).glob('*.py'))]
    files.append(('autograder/rubric.toml', RUBRIC))
    suites = HERE / 'suites'
    files += [(f'autograder/suites/{p.relative_to(suites).as_posix()}', p)
              for p in sorted(suites.rglob('*'))
              if p.is_file() and '__pycache__' not in p.parts]
    package = trusted_package()
    files += [(f'scratchnn/{m}.py', package / f'{m}.py') for m in TRUSTED_MODULES]
    return files


def grader_fingerprint():
    """sha256 of the graded files' names and bytes and of the torch version. Not
    cached: a worker checks it before and after each grade, so that files changed
    under a running worker (a `git pull` on its node) are caught."""
    digest = hashlib.sha256()
    for name, path in graded_files():
        digest.update(name.encode() + b'\0' + path.read_bytes() + b'\0')
    digest.update(b'torch ' + importlib.metadata.version('torch').encode())
    return digest.hexdigest()
