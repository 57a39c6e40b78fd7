"""The instructor pipeline on a small class of sample submissions.

`make demo` (python -m coursekit demo) runs, in the course folder build/demo/:

1. generate the release from solutions/ as `python -m coursekit release` does
   (nbgrader generate_assignment, then our stubs for the package), and record
   it in the gradebook;
2. make the sample submissions of coursekit.samples, zipped as a learning
   management system hands them out, into downloaded/;
3. the real nbgrader workflow: `zip_collect` into submitted/, `autograde`
   (scores from the trusted harness), `generate_feedback`, `export`;
4. a feedback page per student beside nbgrader's, and a table of scores per
   student and item.

Everything lives in build/demo/, which each run rebuilds from scratch.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from . import release, samples
from autograder import report
from autograder.rubric import load_rubric

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / 'build' / 'demo'
ASSIGNMENT = release.ASSIGNMENT

# Loads the course's own configuration (zip_collect's included: one
# <student>.zip per student), then points nbgrader at this folder.
CONFIG = """\
c = get_config()  # noqa: F821
load_subconfig({repo_config!r})  # noqa: F821
c.CourseDirectory.root = {course!r}
"""


def nbgrader(course, *args):
    """Run one nbgrader command in the course folder; stop the demo if it fails."""
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ['PATH']]))
    cmd = [sys.executable, '-m', 'nbgrader', *args]
    print(f"$ nbgrader {' '.join(args)}", flush=True)
    done = subprocess.run(cmd, cwd=course, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stdout.write(done.stdout[-5000:] + done.stderr[-5000:])
        raise SystemExit(f"nbgrader {args[0]} failed (exit {done.returncode})")
    return done


def setup_course(course):
    """A fresh course folder with the course's source and configuration."""
    if course.exists():
        shutil.rmtree(course)
    (course / 'solutions').mkdir(parents=True)
    shutil.copytree(release.SOURCE, course / 'solutions' / ASSIGNMENT,
                    ignore=shutil.ignore_patterns('__pycache__', '*.pyc', '.ipynb_checkpoints'))
    (course / 'nbgrader_config.py').write_text(CONFIG.format(
        repo_config=str(REPO / 'nbgrader_config.py'), course=str(course)))


def generate_release(course):
    """The release of the course's source, as `python -m coursekit release` makes
    it (nbgrader's generate_assignment, then our stubs for the package), into
    assignments/, recorded in the course's gradebook."""
    released = release.build(course / 'assignments' / ASSIGNMENT, source=course / 'solutions' / ASSIGNMENT)
    release.record_in_gradebook(released, url=f'sqlite:///{course / "gradebook.db"}')
    return released


def zip_submissions(course, released, students):
    """Each student's submission as downloaded/<assignment>/archive/<student>.zip."""
    archive = course / 'downloaded' / ASSIGNMENT / 'archive'
    archive.mkdir(parents=True)
    work = course / 'students'
    for student in students:
        folder = samples.make_submission(student, released, release.SOURCE / 'scratchnn',
                                         work / student)
        with zipfile.ZipFile(archive / f'{student}.zip', 'w') as zf:
            for path in sorted(folder.rglob('*')):
                if path.is_file():
                    zf.write(path, path.relative_to(folder))


def write_feedback_pages(course, students):
    """feedback/<student>/<assignment>/index.html from the results the
    autograde step saved; returns {student: results}."""
    results = {}
    for student in students:
        saved = course / 'autograded' / student / ASSIGNMENT / 'results.json'
        results[student] = json.loads(saved.read_text())
        page = course / 'feedback' / student / ASSIGNMENT / 'index.html'
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(report.render(results[student], student, ASSIGNMENT))
    return results


def score_table(results):
    """Scores per item (rows) and student (columns), the totals, and whether
    each student's grade is the one coursekit.samples expects."""
    students = list(results)
    lines = [f"{'item':<28}" + ''.join(f'{s:>9}' for s in students)]
    for item in load_rubric():
        lines.append(f'{item:<28}' + ''.join(f"{results[s]['items'][item]['score']:>9g}"
                                             for s in students))
    lines.append('-' * len(lines[0]))
    lines.append(f"{'autograded':<28}" + ''.join(f"{results[s]['score']:>9g}" for s in students))
    lines.append(f"{'expected':<28}" + ''.join(f'{samples.expectation(s):>9}' for s in students))
    verdicts = ['ok' if not samples.surprises(s, results[s]) else 'WRONG' for s in students]
    lines.append(f"{'as expected':<28}" + ''.join(f'{v:>9}' for v in verdicts))
    return '\n'.join(lines)


def run(course=COURSE, students=tuple(samples.STUDENTS)):
    """The whole pipeline; returns {student: results}. Raises SystemExit if a
    step fails or a grade is not the expected one."""
    started = time.time()
    course = Path(course)
    setup_course(course)
    released = generate_release(course)
    zip_submissions(course, released, students)
    nbgrader(course, 'zip_collect', ASSIGNMENT, '--force')
    nbgrader(course, 'autograde', ASSIGNMENT, '--force')
    nbgrader(course, 'generate_feedback', ASSIGNMENT, '--force')
    nbgrader(course, 'export', '--to', str(course / 'grades.csv'))
    results = write_feedback_pages(course, students)
    print()
    print(score_table(results))
    rubric = load_rubric()
    print(f"(autograded, of {float(rubric.total):g}; the written questions add {float(rubric.written_total):g} "
          f"points, graded by hand: {float(rubric.course_total):g} in all, nbgrader's export included)")
    print()
    print(f"Gradebook export: {course / 'grades.csv'}")
    print(f"Feedback pages:   {course / 'feedback'}/<student>/{ASSIGNMENT}/index.html")
    print(f"Done in {time.time() - started:.0f} s.")
    wrong = {s: samples.surprises(s, results[s]) for s in students}
    wrong = {s: p for s, p in wrong.items() if p}
    if wrong:
        raise SystemExit(f"unexpected grades: {wrong}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m coursekit demo', description=__doc__.split('\n')[0])
    parser.add_argument('--course', type=Path, default=COURSE, help=f'course folder (default {COURSE})')
    args = parser.parse_args(argv)
    run(args.course)
    return 0
