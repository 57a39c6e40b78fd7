"""The README's instructor section, followed as text by a new instructor.

The command blocks of "The grading cycle, step by step" are read from
README.md (each fenced block after an `<!-- instructor-step: NAME -->`
marker) and run, in order, in a fresh copy of the repository, on two
students: alice forgot notebook 02 and wrote only the initializers, bob
uploaded his five (blank) modules alone. No step may fail, print a traceback
or warn about the course's configuration; then the same submission must have
the same score and the same maximum in nbgrader's export, in the results
`grade` computes (autograde saves them), on the feedback pages and on
Gradescope; nbgrader's own feedback pages must open with the summary and
show no line of the hidden suites; autograde must keep the students' modules
and run no notebook code. (These replace the slower fake-grader course that
tests/test_nbgrader.py used to build.)

What "as the README writes them" means here:
- the fresh copy holds what git would check out of this working tree (the
  tracked files, as edited, and new files git does not ignore): no
  gradebook, no build output, no student data;
- the virtual environment is this one: `.venv` links to it and its bin
  folder comes first on PATH (the README's `source .venv/bin/activate`);
  `make` runs as `make -o .venv/.installed`, which tells it that the
  environment is up to date (in a fresh clone requirements.txt is newer than
  it, and make would reinstall it);
- `<student-id>` is the one placeholder, replaced by each student's id; the
  LMS downloads of step 3 are the two students' zips, as the README names them.
"""
import csv
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.integrations.gradescope import with_total_first
from autograder.integrations.nbgrader_plugin import is_autograded
from autograder.report import render
from autograder.results import course_total, read_results
from autograder.rubric import load_rubric, student_modules
from conftest import RELEASE, REPO, SOLUTIONS
from test_nbgrader import hidden_suite_lines

ASSIGNMENT = 'nn_from_scratch'
ITEMS = load_rubric()
STEP = re.compile(r'<!-- instructor-step: (?P<name>[\w-]+) -->\s*\n(?P<indent>[ \t]*)```sh\n(?P<body>.*?)\n[ \t]*```',
                  re.DOTALL)
PLACEHOLDER = '<student-id>'
STEPS = ['release', 'students', 'collect', 'autograde', 'feedback', 'export']
# Warnings about the data or the machine, never about the configuration:
# folders nbgrader creates, alice's notebook 02 not handed in, and what the
# sandbox could not enforce on this machine (autograder/isolation/sandbox.py).
EXPECTED_WARNINGS = ('Directory not found. Creating', 'No submitted file', 'student code ran WITHOUT',
                     'seccomp filter could not be installed')


def readme_steps(text):
    """{step name: its commands}, in the README's order."""
    steps = {}
    for match in STEP.finditer(text):
        lines = match['body'].split('\n')
        steps[match['name']] = '\n'.join(line[len(match['indent']):] for line in lines)
    return steps


def test_the_readme_marks_every_step_of_the_grading_cycle():
    steps = readme_steps((REPO / 'README.md').read_text())
    assert list(steps) == STEPS
    assert all(PLACEHOLDER not in commands for name, commands in steps.items() if name != 'students')


def fresh_copy(dest):
    """What git would check out of this working tree, into dest."""
    listed = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split('\0')
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():                    # a file deleted in the working tree is not there
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    (dest / '.venv').symlink_to(Path(sys.prefix))
    return dest


def make_told_the_venv_is_current(bin_dir):
    """A `make` first on PATH: the real one, told that .venv/.installed is up to date."""
    bin_dir.mkdir()
    wrapper = bin_dir / 'make'
    wrapper.write_text(f'#!/bin/sh\nexec {shutil.which("make")} -o .venv/.installed "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return bin_dir


def zip_folder(folder, archive):
    with zipfile.ZipFile(archive, 'w') as z:
        for path in sorted(folder.rglob('*')):
            if path.is_file():
                z.write(path, path.relative_to(folder))


def downloads(course, work):
    """The LMS downloads of step 3: alice's hand-in without notebook 02, with the
    solution's initializers and stubs elsewhere; bob's five blank modules alone."""
    archive = course / 'downloaded' / ASSIGNMENT / 'archive'
    archive.mkdir(parents=True)
    alice = work / 'alice'
    (alice / 'scratchnn').mkdir(parents=True)
    for notebook in RELEASE.glob('*.ipynb'):
        if not notebook.name.startswith('02_'):
            shutil.copy(notebook, alice)
    for module in student_modules():
        package = SOLUTIONS if module == 'init' else RELEASE
        shutil.copy(package / 'scratchnn' / f'{module}.py', alice / 'scratchnn')
    zip_folder(alice, archive / 'alice.zip')
    bob = work / 'bob'
    bob.mkdir()
    for module in student_modules():
        shutil.copy(RELEASE / 'scratchnn' / f'{module}.py', bob)
    zip_folder(bob, archive / 'bob.zip')
    return ['alice', 'bob']


def run_step(course, env, commands):
    done = subprocess.run(['bash', '-euc', commands], cwd=course, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, f"{commands}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    assert 'Traceback' not in done.stderr, done.stderr[-5000:]
    warnings = [line for line in done.stderr.splitlines() if 'WARNING' in line.upper()
                and not any(expected in line for expected in EXPECTED_WARNINGS)]
    assert warnings == [], f"{commands}: {warnings}"
    return done


@pytest.fixture(scope='module')
def followed(tmp_path_factory):
    """The course after every step of the README: (folder, the students)."""
    work = tmp_path_factory.mktemp('readme')
    course = fresh_copy(work / 'clone')
    bin_dir = make_told_the_venv_is_current(work / 'bin')
    env = dict(os.environ, PATH=os.pathsep.join([str(bin_dir), str(course / '.venv' / 'bin'),
                                                os.environ['PATH']]))
    env.pop('PYTHONPATH', None)
    students = downloads(course, work)
    steps = readme_steps((course / 'README.md').read_text())
    for name in STEPS:
        if PLACEHOLDER in steps[name]:
            for student in students:
                run_step(course, env, steps[name].replace(PLACEHOLDER, student))
        else:
            run_step(course, env, steps[name])
    return course, students


def exported(course):
    with open(course / 'grades.csv') as f:
        return {row['student_id']: row for row in csv.DictReader(f)}


@pytest.mark.slow
def test_every_path_gives_the_same_total_of_the_rubric(followed):
    course, students = followed
    rows = exported(course)
    assert sorted(rows) == students
    init_points = sum(float(item.points) for item in ITEMS.values()
                      if item.functions and all(f.startswith('init.') for f in item.functions))
    for student in students:
        # what `grade` computed for this submission (Gradescope runs `grade` too)
        results = read_results(course / 'autograded' / student / ASSIGNMENT / 'results.json', ITEMS)
        score, max_score = course_total(results)
        assert max_score == float(ITEMS.course_total)
        assert (float(rows[student]['raw_score']), float(rows[student]['max_score'])) == (score, max_score)
        total = f'Total: <b>{score:g} / {max_score:g}</b>'
        assert total in render(results, student)                          # grade-all's feedback.html
        assert f'Total: {score:g} / {max_score:g}' in with_total_first(results)['output']   # Gradescope
    # alice's initializers count although notebook 02 was not handed in; bob's modules were graded
    assert float(rows['alice']['raw_score']) == init_points > 0
    assert float(rows['bob']['raw_score']) == 0


@pytest.mark.slow
def test_nbgrader_feedback_opens_with_the_summary(followed):
    course, _ = followed
    page = (course / 'feedback' / 'alice' / ASSIGNMENT / '01_layers_and_gradient_checking.html').read_text()
    summary, cell = page.index('class="first-things-first"'), page.index('<a name="linear_forward">')
    assert summary < cell                                   # the first cell, before the graded cells
    assert 'Not written yet: ' in page[summary:cell] and 'href="#linear_forward"' in page[summary:cell]
    # one line per item not written yet, in its graded cell too: not a line per test
    cell = page[page.index('linear_forward: 0 / '):]
    assert 'not written yet (layers.Linear.forward: not implemented' in cell
    assert '[FAIL]' not in page


@pytest.mark.slow
def test_autograde_keeps_the_students_modules_and_runs_no_notebook_code(followed):
    course, _ = followed
    graded = course / 'autograded' / 'alice' / ASSIGNMENT
    for module in student_modules():        # hers, not the solution's
        package = SOLUTIONS if module == 'init' else RELEASE
        assert (graded / 'scratchnn' / f'{module}.py').read_text() == \
            (package / 'scratchnn' / f'{module}.py').read_text()
    for path in graded.glob('*.ipynb'):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == 'code':
                kinds = [(o.output_type, o.get('name')) for o in cell.outputs]
                # a graded cell: the harness's messages and score; any other: not run
                assert kinds == ([('stream', 'stdout'), ('execute_result', None)]
                                 if is_autograded(cell) else [])


@pytest.mark.slow
def test_feedback_shows_no_line_of_the_hidden_suites(followed):
    course, students = followed
    text = '\n'.join(page.read_text() for student in students
                     for page in (course / 'feedback' / student / ASSIGNMENT).glob('*.html'))
    assert [line for line in hidden_suite_lines() if line in text] == []


def test_the_readme_and_the_students_guide_state_the_rubrics_points():
    readme = ' '.join((REPO / 'README.md').read_text().split())
    assert (f'The assignment is worth {ITEMS.course_total} points: {ITEMS.total} autograded' in readme
            and f'{ITEMS.written_total} for the {len(ITEMS.written)} written questions' in readme)
    guide = ' '.join((REPO / 'docs' / 'students.md').read_text().split())
    assert f'worth {ITEMS.course_total} points' in guide
    assert f'{ITEMS.total} points in all, graded by the autograder' in guide
    assert f'the {len(ITEMS.written)} inline questions add {ITEMS.written_total} points, graded by hand' in guide
