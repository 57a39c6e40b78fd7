"""The student repository: what students may see, as a git repository of its own.

This repository holds the solutions and the hidden tests: keep it private.
Students clone, fork and open in Colab another one, written by

    python -m coursekit publish DIR [--repo URL]

DIR becomes (or, if it is one already, is updated as a new commit of) a git
repository holding only:

    README.md              the students' guide (docs/students.md), Colab links to COURSE_REPO
    docs/companion-api.md  the package contract
    requirements.txt       what the notebooks need (coursekit/student_repo/), torch
                           from the index of its CPU builds, as on Gradescope
    constraints.txt        this repository's pins of those packages only, with
                           comments for students (coursekit/student_repo/)
    .gitignore
    nn_from_scratch/       the release, generated afresh from solutions/: the
                           notebooks and scratchnn/ with stubs, the given modules
                           (data helpers, self-check, Colab setup) whole

Nothing from solutions/, autograder/ or rubric.toml. Push DIR to COURSE_REPO
(coursekit/release.py), the address the notebooks' setup cells clone.
"""
import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from autograder.integrations.gradescope import TORCH_CPU_INDEX

from . import release

REPO = release.REPO
STATIC = Path(__file__).resolve().parent / 'student_repo'   # requirements.txt, constraints.txt, .gitignore
CONTRACT = REPO / 'docs' / 'companion-api.md'
# Every path a published repository may track: a folder that tracks anything
# else is no student repository, and publishing there would wipe it.
LAYOUT = ('README.md', 'docs/companion-api.md', 'requirements.txt', 'constraints.txt', '.gitignore',
          f'{release.ASSIGNMENT}/')


class PublishError(Exception):
    """DIR cannot be (or be updated as) the student repository."""


def git(folder, *args, check=True):
    """Run git in folder; returns the completed process (text output)."""
    done = subprocess.run(['git', '-C', str(folder), *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise PublishError(f"git {' '.join(args)} failed in {folder}: {done.stderr.strip()}")
    return done


def stage(dest, repo=release.COURSE_REPO, source=release.SOURCE):
    """Write every file of the student repository into the empty folder dest."""
    dest = Path(dest)
    assignment = release.build(dest / release.ASSIGNMENT, source=source, repo=repo)
    readme = dest / 'README.md'
    shutil.copyfile(release.STUDENTS_DOC, readme)
    release.update_links(release.notebooks(assignment), repo, readme)
    (dest / 'docs').mkdir()
    shutil.copyfile(CONTRACT, dest / 'docs' / 'companion-api.md')
    (dest / 'requirements.txt').write_text(requirements_text())
    (dest / 'constraints.txt').write_text(constraints_text())
    shutil.copyfile(STATIC / 'gitignore', dest / '.gitignore')
    return dest


def requirements_text():
    """The students' requirements.txt: coursekit/student_repo's, whose
    --extra-index-url is the index Gradescope's image takes torch from
    (TORCH_CPU_INDEX): pip then prefers its CPU build of the pinned version
    (X+cpu, a local version, sorts above X) to the default index's X, which on
    Linux is the CUDA build."""
    return (STATIC / 'requirements.txt').read_text().replace('{TORCH_CPU_INDEX}', TORCH_CPU_INDEX)


def requirement_names(text):
    """The normalized project names of the requirement lines of a pip
    requirements or constraints file's text (not comments, blanks or options)."""
    lines = (line.split('#')[0].strip() for line in text.splitlines())
    return {canonicalize_name(Requirement(line).name) for line in lines if line and not line.startswith('-')}


def constraints_text():
    """The students' constraints.txt: coursekit/student_repo's comments, then
    this repository's pins of the packages the students install (torch), and
    none of the instructors' (Dask, the test runner's)."""
    wanted = requirement_names(requirements_text())
    pins = [line for line in (REPO / 'constraints.txt').read_text().splitlines()
            if requirement_names(line) & wanted]
    return (STATIC / 'constraints.txt').read_text() + '\n'.join(pins) + '\n'


def check_destination(dest):
    """Raise PublishError unless dest is absent, empty, or a student repository."""
    dest = Path(dest).resolve()
    if dest == REPO or REPO.is_relative_to(dest):
        raise PublishError(f"{dest} holds this (private) course repository: publish into another folder")
    if not dest.exists() or not any(dest.iterdir()):
        return
    if not (dest / '.git').exists():
        raise PublishError(f"{dest} is not empty and not a git repository: give an empty folder, "
                           "or a clone of the student repository")
    tracked = git(dest, 'ls-files').stdout.split()
    foreign = [path for path in tracked if not any(path == entry or (entry.endswith('/') and path.startswith(entry))
                                                  for entry in LAYOUT)]
    if foreign:
        raise PublishError(f"{dest} tracks files no student repository has ({', '.join(foreign[:3])}"
                           f"{', ...' if len(foreign) > 3 else ''}): not publishing over it")


def source_version():
    """This repository's commit, for the commit message ('unknown' outside git)."""
    done = git(REPO, 'describe', '--always', '--dirty', check=False)
    return done.stdout.strip() if done.returncode == 0 else 'unknown'


def commit(dest, message):
    """Commit everything in dest; returns the new commit, or None if nothing changed."""
    git(dest, 'add', '--all')
    if git(dest, 'diff', '--cached', '--quiet', check=False).returncode == 0:
        return None
    identity = []
    if git(dest, 'config', 'user.email', check=False).returncode != 0:
        identity = ['-c', 'user.name=coursekit publish', '-c', 'user.email=coursekit@localhost']
    git(dest, *identity, 'commit', '--quiet', '-m', message)
    return git(dest, 'rev-parse', 'HEAD').stdout.strip()


def publish(dest, repo=release.COURSE_REPO, source=release.SOURCE):
    """Write the student repository into dest, as a new commit. Returns (dest,
    commit or None when nothing changed)."""
    dest = Path(dest).resolve()
    check_destination(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if not (dest / '.git').exists():
        git(dest, 'init', '--quiet', '--initial-branch=main')
    with tempfile.TemporaryDirectory(prefix='coursekit-publish-') as tmp:
        staged = stage(Path(tmp), repo, source)
        for entry in dest.iterdir():
            if entry.name != '.git':
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        shutil.copytree(staged, dest, dirs_exist_ok=True)
    return dest, commit(dest, f"Publish {release.ASSIGNMENT} (course {source_version()})")


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m coursekit publish',
                                     description='Write the student repository (only what students may see).')
    parser.add_argument('dest', type=Path, metavar='DIR', help='the student repository (created if absent)')
    parser.add_argument('--repo', default=release.COURSE_REPO,
                        help=f'its address, for the Colab links and setup cells (default {release.COURSE_REPO})')
    args = parser.parse_args(argv)
    try:
        dest, new = publish(args.dest, args.repo)
    except (PublishError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if new is None:
        print(f"{dest}: already up to date, nothing to commit")
    else:
        print(f"{dest}: published as commit {new[:12]}; push it to {args.repo}")
    return 0
