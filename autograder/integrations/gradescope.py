"""The course's Gradescope autograder: `python -m autograder gradescope-zip OUT.zip`.

The zip holds what Gradescope asks for, at its top:

    setup.sh         run once when Gradescope builds the image: installs
                     bubblewrap, Python, the pinned CPU build of torch and the
                     grader's packages (requirements.txt, constraints.txt)
    run_autograder   run for every submission: `python -m autograder.integrations.gradescope`
    autograder/      the grader: harness, sandbox, hidden suites, rubric
    assignments/nn_from_scratch/scratchnn/   the trusted given modules only
                     (never a solution: the student modules are not in the zip)

For every submission, run() (this module's main) reads the student's
modules from ROOT/submission whatever the student uploaded (the
nn_from_scratch folder, the five modules, or a zip of either), without
following links, grades them with `python -m autograder grade` as a
grade-all worker does, and writes ROOT/results/results.json, whose text
starts with the assignment's total (the written questions, graded by hand,
included: add them on Gradescope as manually graded questions). ROOT is
/autograder, or $AUTOGRADER_ROOT (the tests use a temporary one). An upload
with nothing to grade gets 0 and a message that says what to upload; a
grader that cannot grade exits non-zero, which Gradescope shows the
instructor as a failed autograder rather than a grade.
"""
import io
import json
import os
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..course import COURSE
from ..results import write_json_atomic
from ..isolation.intake import NotGradable, pack, unpack

GRADER_PACKAGE = Path(__file__).resolve().parent.parent   # the whole grader package
REPO = COURSE.root
RELEASE_PACKAGE = 'assignments/nn_from_scratch/scratchnn'   # where the trusted modules go
# What the grader imports (the notebooks, nbgrader and Dask stay out of the image).
GRADER_REQUIREMENTS = ('torch', 'numpy', 'scikit-learn', 'pytest', 'tqdm')
ROOT_ENV = 'AUTOGRADER_ROOT'
# The index of torch's CPU builds: the default Linux wheel brings gigabytes of
# CUDA libraries that a CPU never uses. The one place that names it: the
# students' requirements.txt (coursekit publish) takes torch from it too.
TORCH_CPU_INDEX = 'https://download.pytorch.org/whl/cpu'

SETUP_SH = rf"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# bubblewrap: the sandbox that hides the grader from the student's code
apt-get install -y -qq bubblewrap python3 python3-venv python3-pip
PY=$(command -v python3.12 || command -v python3.11 || command -v python3)
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), "the grader needs Python 3.11 or newer: choose the Ubuntu 24.04 base image"'
"$PY" -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet --upgrade pip
# torch's CPU build, at the version constraints.txt pins (the default Linux
# wheel brings gigabytes of CUDA libraries a CPU grader never uses)
/autograder/venv/bin/pip install --quiet -c constraints.txt torch \
    --index-url {TORCH_CPU_INDEX}
/autograder/venv/bin/pip install --quiet -r requirements.txt -c constraints.txt
# fail the build now, not on the first student, if the grader cannot start
/autograder/venv/bin/python -m autograder --help >/dev/null
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission: it grades ROOT/submission into
# ROOT/results/results.json (ROOT: /autograder, or $AUTOGRADER_ROOT).
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-/autograder/venv/bin/python}"
cd "$ROOT/source"
export AUTOGRADER_ROOT="$ROOT"
# the suites' own oracles load the trusted given modules from here
export SCRATCHNN_TRUSTED_DIR="$ROOT/source/assignments/nn_from_scratch/scratchnn"
exec "$PYTHON" -m autograder.integrations.gradescope "$@"
"""


# ---------------------------------------------------------------- the zip

def grader_files():
    """[(name in the zip, path)] of the grader: autograder/ and the trusted modules."""
    from ..isolation.sandbox import TRUSTED_MODULES, trusted_package
    files = []
    for path in sorted(GRADER_PACKAGE.rglob('*')):
        if path.is_file() and '__pycache__' not in path.parts and path.suffix in ('.py', '.toml'):
            files.append((f'autograder/{path.relative_to(GRADER_PACKAGE).as_posix()}', path))
    package = trusted_package()
    files += [(f'{RELEASE_PACKAGE}/{m}.py', package / f'{m}.py') for m in TRUSTED_MODULES]
    return files


def requirements_text():
    """The grader's part of requirements.txt (every package checked to be there)."""
    listed = [line.strip() for line in (REPO / 'requirements.txt').read_text().splitlines()
              if line.strip() and not line.startswith('#')]
    missing = [name for name in GRADER_REQUIREMENTS if name not in listed]
    if missing:
        raise ValueError(f"requirements.txt lacks {missing}")
    return "# The grader's packages (pinned by constraints.txt)\n" + '\n'.join(GRADER_REQUIREMENTS) + '\n'


def _add(archive, name, data, executable=False):
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_zip(out):
    """Write the Gradescope autograder zip to out (atomically); returns its member names."""
    out = Path(out)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as archive:
        _add(archive, 'setup.sh', SETUP_SH, executable=True)
        _add(archive, 'run_autograder', RUN_AUTOGRADER, executable=True)
        _add(archive, 'requirements.txt', requirements_text())
        _add(archive, 'constraints.txt', (REPO / 'constraints.txt').read_bytes())
        for name, path in grader_files():
            _add(archive, name, path.read_bytes())
        names = archive.namelist()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f'.{out.name}.part')
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(out)
    return names


def gradescope_zip(args):
    """`python -m autograder gradescope-zip OUT.zip`."""
    if args.out.suffix.lower() != '.zip':
        print(f"error: {args.out} must end in .zip", file=sys.stderr)
        return 2
    names = build_zip(args.out)
    print(f"wrote {args.out} ({len(names)} files): upload it as the assignment's autograder on "
          f"Gradescope (see the README for the recommended settings)")
    return 0


def add_gradescope_zip(subparsers):
    parser = subparsers.add_parser('gradescope-zip', help="build the course's Gradescope autograder zip",
                                   description=__doc__.split('\n\n')[0])
    parser.add_argument('out', type=Path, metavar='OUT.zip', help='where to write the zip')
    parser.set_defaults(handler=gradescope_zip)


# ---------------------------------------------------------------- the runner

def nothing_to_grade(reason):
    """The results.json of an upload with nothing to grade: 0, and what to upload."""
    return {'score': 0.0, 'tests': [], 'output': (
        f"Nothing could be graded: {reason}.\nUpload your nn_from_scratch folder, the five "
        f"modules of scratchnn (layers.py, dropout.py, normalization.py, init.py, optim.py), "
        f"or a zip of either, then submit again.")}


def run(root, grade_args=()):
    """Grade root/submission into root/results/results.json; returns the exit status."""
    from ..rubric import student_modules
    root = Path(root)
    results_path = root / 'results' / 'results.json'
    try:
        packed = pack(root / 'submission', student_modules())
    except NotGradable as e:
        write_json_atomic(results_path, nothing_to_grade(str(e).replace(str(root) + '/', '')))
        print(f"nothing to grade: {e}", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory(prefix='gradescope-') as tmp:
        folder, out = unpack(packed, Path(tmp) / 'submission'), Path(tmp) / 'results.json'
        done = subprocess.run([sys.executable, '-m', 'autograder', 'grade', str(folder),
                               '--json', str(out), *grade_args], cwd=REPO)
        if done.returncode != 0:
            return done.returncode
        results = json.loads(out.read_text())
    write_json_atomic(results_path, with_total_first(results))
    return 0


def with_total_first(results):
    """results with the assignment's total (report.totals_text: the autograded
    points and the written questions', graded by hand) as the first line of
    the text Gradescope shows above the tests."""
    from ..report import totals_text
    if not results.get('written'):
        return results
    output = results.get('output') or ''
    return dict(results, output=totals_text(results) + ('\n\n' + output if output else ''))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    return run(os.environ.get(ROOT_ENV, '/autograder'), argv)


if __name__ == '__main__':
    sys.exit(main())
