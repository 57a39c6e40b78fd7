"""The student release: assignments/nn_from_scratch, generated from solutions/.

One command (`python -m coursekit release`, or `make release`) rebuilds it:

1. nbgrader's generate_assignment turns the source notebooks into student
   notebooks (solution text removed, graded cells locked, checksums added). It
   runs on a copy of the source in a temporary course folder with a temporary
   gradebook, so that it writes nothing else into the repository (step 4
   records the release in the course's gradebook, ignored by git).
2. Every scratchnn/*.py goes through autograder.blocks.stub_source: each solution
   block becomes a NotImplementedError naming the function to write. Modules
   without blocks (the given helpers) come out unchanged.
3. The setup cell of every notebook clones COURSE_REPO in Colab; the release
   writes the current value in, so COURSE_REPO here is the one place to change it.
4. The release of the course (assignments/) is recorded in the course's
   gradebook (CourseDirectory.db_url of nbgrader_config.py, gradebook.db by
   default), as stock generate_assignment records it: `nbgrader autograde`
   refuses an assignment the gradebook does not know.

COURSE_REPO is the students' repository, written by `python -m coursekit
publish` (coursekit/publish.py), never this one: this one holds the solutions.

The output is deterministic: regenerating gives byte-identical files.
"""
import argparse
import re
import shutil
import tempfile
from pathlib import Path

from autograder.blocks import stub_source

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = 'nn_from_scratch'
SOURCE = REPO / 'solutions' / ASSIGNMENT
RELEASE = REPO / 'assignments' / ASSIGNMENT
NBGRADER_CONFIG = REPO / 'nbgrader_config.py'

# The students' repository on GitHub (coursekit/publish.py writes it): the
# notebooks' Colab setup cell clones it, and the Colab links of README.md and
# docs/students.md open its notebooks. Change it, then `make release`.
COURSE_REPO = 'https://github.com/scratchnn-course/nn-from-scratch'
GITHUB_URL = re.compile(r'https://github\.com/([\w.-]+/[\w.-]+?)(\.git)?')
COLAB_URL = 'https://colab.research.google.com/github/{owner_repo}/blob/main/{assignment}/{name}'

# Copied into the temporary course: not caches, checkpoints or solver outputs.
IGNORED = shutil.ignore_patterns('__pycache__', '*.pyc', '.ipynb_checkpoints', '*.pt')
SETUP_REPO_LINE = re.compile(r"COURSE_REPO = '[^']*'")


def notebooks(folder=SOURCE):
    """The assignment's notebooks, in order."""
    return sorted(p.name for p in Path(folder).glob('*.ipynb'))


def github_repo(url):
    """OWNER/REPO of a https://github.com/OWNER/REPO address; ValueError for
    anything else (Colab opens notebooks from GitHub only)."""
    match = GITHUB_URL.fullmatch(url)
    if not match:
        raise ValueError(f"the course repository must be https://github.com/OWNER/REPO, got {url!r}")
    return match.group(1)


def colab_url(name, repo=COURSE_REPO):
    """The 'Open in Colab' address of the notebook `name` in the student repository."""
    return COLAB_URL.format(owner_repo=github_repo(repo), assignment=ASSIGNMENT, name=name)


def _course_config():
    """The course's nbgrader configuration (nbgrader_config.py), as nbgrader loads it."""
    from traitlets.config import PyFileConfigLoader
    return PyFileConfigLoader(NBGRADER_CONFIG.name, path=str(NBGRADER_CONFIG.parent)).load_config()


def course_gradebook_url():
    """The gradebook nbgrader's commands use in this course (CourseDirectory.db_url)."""
    from nbgrader.coursedir import CourseDirectory
    return CourseDirectory(config=_course_config()).db_url


def record_in_gradebook(release_dir=RELEASE, url=None):
    """Record the release's notebooks and graded cells in the course's gradebook
    (url: default course_gradebook_url()); returns the URL without its password."""
    from autograder.integrations.gradebook import record_release, redacted
    url = course_gradebook_url() if url is None else url
    record_release(url, release_dir)
    return redacted(url)


def _generate_notebooks(source, dest):
    """nbgrader generate_assignment of the assignment folder `source` into `dest`,
    with the repository's nbgrader_config.py and a throwaway course and gradebook."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    from autograder.integrations.gradebook import venv_on_path

    with tempfile.TemporaryDirectory(prefix='coursekit-release-') as tmp:
        course = Path(tmp)
        shutil.copytree(source, course / 'source' / ASSIGNMENT, ignore=IGNORED)
        config = _course_config()
        overrides = Config()
        overrides.CourseDirectory.root = str(course)
        overrides.CourseDirectory.source_directory = 'source'
        overrides.CourseDirectory.release_directory = 'release'
        overrides.CourseDirectory.db_url = f'sqlite:///{course / "gradebook.db"}'
        config.merge(overrides)
        with venv_on_path():
            result = NbGraderAPI(config=config).generate_assignment(ASSIGNMENT, force=True, create=True)
        if not result['success']:
            raise RuntimeError(f"nbgrader generate_assignment failed:\n{result.get('log')}\n{result.get('error')}")
        shutil.copytree(course / 'release' / ASSIGNMENT, dest)


def _stub_package(package_dir):
    """Replace every solution block of package_dir/*.py with its stub."""
    for path in sorted(Path(package_dir).glob('*.py')):
        path.write_text(stub_source(path.read_text(), f'scratchnn/{path.name}'))


def stub_after_generate(assignment, student, notebooks):
    """nbgrader's post-convert hook of generate_assignment (nbgrader_config.py).

    Stock `nbgrader generate_assignment` copies the package's .py files into
    the release verbatim, solutions included. This stubs every copy of the
    package beside the source, <root>/<release dir>/<assignment>/scratchnn, so
    the stock command is as safe as `python -m coursekit release`.
    """
    if not notebooks:
        return
    source = Path(notebooks[0]).resolve().parent
    root = source.parent.parent
    for package in root.glob(f'*/{assignment}/scratchnn'):
        if package.resolve() != source / 'scratchnn':
            _stub_package(package)


def _set_course_repo(folder, repo):
    """Write `repo` into the COURSE_REPO line of every notebook's setup cell.

    Edits the notebook's JSON text in place (a GitHub address holds no
    character JSON escapes), so nothing else in the file changes."""
    github_repo(repo)
    for path in sorted(Path(folder).glob('*.ipynb')):
        text = path.read_text()
        found = len(SETUP_REPO_LINE.findall(text))
        if found != 1:
            raise ValueError(f"{path.name}: expected one COURSE_REPO line in the setup cell, found {found}")
        path.write_text(SETUP_REPO_LINE.sub(f"COURSE_REPO = '{repo}'", text))


def build(dest=RELEASE, source=SOURCE, repo=COURSE_REPO):
    """Generate the release of `source` into `dest` (replacing it). Returns dest."""
    dest, source = Path(dest), Path(source)
    if not (source / 'scratchnn').is_dir():
        raise FileNotFoundError(f"{source} has no scratchnn package: not an assignment source folder")
    with tempfile.TemporaryDirectory(prefix='coursekit-out-') as tmp:
        staged = Path(tmp) / ASSIGNMENT
        _generate_notebooks(source, staged)
        _stub_package(staged / 'scratchnn')
        _set_course_repo(staged, repo)
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staged, dest)
    return dest


STUDENTS_DOC = REPO / 'docs' / 'students.md'
README = REPO / 'README.md'
LINKS_BEGIN = '<!-- colab-links:begin'
LINKS_END = '<!-- colab-links:end -->'


def colab_links(names, repo=COURSE_REPO):
    """The Markdown block of docs/students.md that links every notebook."""
    rows = [f"| `{name}` | [Open in Colab]({colab_url(name, repo)}) |" for name in names]
    return '\n'.join([
        f'{LINKS_BEGIN} (written by `python -m coursekit release`; edit COURSE_REPO in coursekit/release.py) -->',
        f'Student repository: {repo}',
        '',
        '| notebook | open in Colab |',
        '| --- | --- |',
        *rows,
        LINKS_END,
    ])


def update_links(names, repo=COURSE_REPO, path=STUDENTS_DOC):
    """Rewrite the Colab links block of a Markdown file (between its markers)."""
    text = Path(path).read_text()
    begin, end = text.find(LINKS_BEGIN), text.find(LINKS_END)
    if begin < 0 or end < begin:
        raise ValueError(f"{path} lacks the {LINKS_BEGIN} ... {LINKS_END} markers")
    Path(path).write_text(text[:begin] + colab_links(names, repo) + text[end + len(LINKS_END):])


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m coursekit release',
                                     description='Generate the student release from solutions/.')
    parser.add_argument('--dest', type=Path, default=RELEASE, help=f'output folder (default {RELEASE})')
    parser.add_argument('--repo', default=COURSE_REPO,
                        help=f'the student repository, for Colab (default {COURSE_REPO})')
    args = parser.parse_args(argv)
    dest = build(args.dest, repo=args.repo)
    print(f'release written to {dest}')
    if args.dest == RELEASE:
        for doc in (README, STUDENTS_DOC):
            update_links(notebooks(dest), args.repo, doc)
            print(f'Colab links written to {doc}')
        print(f'assignment {ASSIGNMENT} recorded in the gradebook {record_in_gradebook(dest)}')
    return 0
