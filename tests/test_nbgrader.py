"""nbgrader autograde and generate_feedback take their scores from the trusted harness.

Each test course is a temporary nbgrader course: the source (solutions/), the
repository's nbgrader_config.py (loaded, with only the course root changed),
a gradebook that knows the release (as `python -m coursekit release` records
it), and submitted/<student>/nn_from_scratch/ made of the released notebooks
and a scratchnn package.
The unit tests check the cell outputs against nbgrader's own determine_grade;
the slow one runs the real `nbgrader autograde` with a grader that fails.
test_readme_instructor.py runs the real commands and harness as the README
writes them (a notebook not handed in, modules alone, the feedback summary);
test_pipeline.py checks the sample students' scores through them.
"""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from nbgrader.preprocessors import ClearHiddenTests
from nbgrader.utils import determine_grade

from autograder.integrations import nbgrader_plugin as plugin
from autograder.integrations.grade_all import ASSIGNMENT, COURSE_ID
from autograder.integrations.gradebook import record_release
from autograder.rubric import load_rubric, student_modules
from conftest import RELEASE, REPO, SOLUTIONS

ITEMS = load_rubric()
STUDENT_MODULES = student_modules()
IGNORE = shutil.ignore_patterns('__pycache__', '*.pyc', '.ipynb_checkpoints', '*.pt')
SECRET = 'SECRET_HIDDEN_CHECK_7f3a'   # a hidden-test line planted in a graded cell


# ---------------------------------------------------------------- unit tests

def graded_cell(grade_id='linear_forward', points=3):
    cell = new_code_cell('# public check', metadata={'nbgrader': {
        'grade': True, 'solution': False, 'locked': True, 'task': False,
        'grade_id': grade_id, 'points': points, 'schema_version': 3}})
    return cell


def results_for(scores, tests=()):
    """Harness-shaped results: scores {item: score}, every other item full."""
    items = {i: {'score': float(scores.get(i, info.points)), 'max_score': float(info.points)}
             for i, info in ITEMS.items()}
    return {'score': sum(v['score'] for v in items.values()), 'max_score': float(ITEMS.total),
            'tests': list(tests), 'items': items}


@pytest.mark.parametrize('score', [0, 1, 2.0 / 3, 2.5, 3])
def test_outputs_give_exactly_the_item_score(score):
    nb = new_notebook(cells=[graded_cell()])
    plugin.fill_grade_cells(nb, results_for({'linear_forward': score}))
    assert determine_grade(nb.cells[0]) == (score, 3.0)
    assert [o.output_type for o in nb.cells[0].outputs] == ['stream', 'execute_result']
    assert nb.cells[0].outputs[0].name == 'stdout'


def test_out_of_range_scores_are_clamped():
    nb = new_notebook(cells=[graded_cell(), graded_cell('relu_forward', 2)])
    plugin.fill_grade_cells(nb, results_for({'linear_forward': 3.0000000001, 'relu_forward': -1e-12}))
    assert determine_grade(nb.cells[0]) == (3.0, 3.0)
    assert determine_grade(nb.cells[1]) == (0.0, 2.0)


def test_messages_show_every_test_and_failure_reasons():
    tests = [{'name': 'shapes', 'score': 1, 'max_score': 1, 'output': '', 'number': 'linear_forward'},
             {'name': 'values', 'score': 0, 'max_score': 2, 'output': 'out[0, 1] is 3.0, expected 2.5',
              'number': 'linear_forward'},
             {'name': 'other item', 'score': 0, 'max_score': 2, 'output': 'nope', 'number': 'relu_forward'}]
    nb = new_notebook(cells=[graded_cell()])
    plugin.fill_grade_cells(nb, results_for({'linear_forward': 1}, tests))
    text = nb.cells[0].outputs[0].text
    assert 'linear_forward: 1 / 3 points' in text
    assert '[PASS] shapes (1 / 1)' in text and '[FAIL] values (0 / 2)' in text
    assert 'out[0, 1] is 3.0, expected 2.5' in text
    assert 'other item' not in text and 'nope' not in text


def test_skipped_tests_are_marked_skipped():
    tests = [{'name': 'on cuda', 'score': 0.0, 'max_score': 0.0, 'output': 'skipped on this machine',
              'number': 'linear_forward'}]
    text = plugin.item_messages('linear_forward', 3, 3, tests)
    assert '[SKIP] on cuda (0 / 0)' in text and 'skipped on this machine' in text


def test_answer_cells_and_plain_cells_are_left_alone():
    answer = new_code_cell('YOUR ANSWER', outputs=[], metadata={'nbgrader': {
        'grade': True, 'solution': True, 'locked': False, 'task': False,
        'grade_id': 'q_code', 'points': 1, 'schema_version': 3}})
    plain = new_code_cell('x = 1')
    nb = new_notebook(cells=[answer, plain])
    plugin.fill_grade_cells(nb, results_for({}))
    assert answer.outputs == [] and plain.outputs == []


def test_mismatched_results_refuse_to_grade():
    nb = new_notebook(cells=[graded_cell('not_an_item', 3)])
    with pytest.raises(plugin.ResultsDoNotFit, match='no item'):
        plugin.fill_grade_cells(nb, results_for({}))
    nb = new_notebook(cells=[graded_cell('linear_forward', 5)])
    with pytest.raises(plugin.ResultsDoNotFit, match='worth 3 in the rubric'):
        plugin.fill_grade_cells(nb, results_for({}))
    with pytest.raises(plugin.ResultsDoNotFit, match='score'):
        plugin.fill_grade_cells(new_notebook(cells=[graded_cell()]),
                                results_for({'linear_forward': float('nan')}))


def test_results_cached_per_submission_and_content(tmp_path):
    shutil.copytree(RELEASE / 'scratchnn', tmp_path / 'scratchnn', ignore=IGNORE)
    seen = []

    def grade(folder, **options):
        seen.append(folder)
        return results_for({})

    for _ in range(3):
        plugin.submission_results(tmp_path, grade, device=None, workers=None)
    assert seen == [tmp_path.resolve()]
    (tmp_path / 'scratchnn' / 'layers.py').write_text('# changed\n')
    plugin.submission_results(tmp_path, grade, device=None, workers=None)
    assert len(seen) == 2


def test_incomplete_results_grade_nothing(tmp_path):
    (tmp_path / 'scratchnn').mkdir()
    partial = results_for({})
    del partial['items']['train_deep_batchnorm']
    with pytest.raises(plugin.ResultsDoNotFit, match='train_deep_batchnorm'):
        plugin.submission_results(tmp_path, lambda folder, **o: partial)


def test_config_keeps_student_modules_and_replaces_execute():
    from traitlets.config import PyFileConfigLoader
    config = PyFileConfigLoader('nbgrader_config.py', path=str(REPO)).load_config()
    assert config.CourseDirectory.source_directory == 'solutions'
    assert config.CourseDirectory.release_directory == 'assignments'
    assert config.Autograde.exclude_overwriting == {
        ASSIGNMENT: [f'scratchnn/{m}.py' for m in STUDENT_MODULES]}
    # every module a rubric item grades is one the student keeps
    graded = {f.split('.')[0] for info in ITEMS.values() for f in info.functions}
    assert graded <= set(STUDENT_MODULES)
    pps = config.Autograde.autograde_preprocessors
    assert plugin.HarnessGrades in pps and not any(p.__name__ == 'Execute' for p in pps)
    assert config.CourseDirectory.course_id == COURSE_ID
    # nothing nbgrader 0.9 warns about: an absolute root, no db_assignments
    assert Path(config.CourseDirectory.root) == REPO
    assert 'db_assignments' not in config.CourseDirectory


def test_the_feedback_summary_is_enabled():
    """nbconvert runs a preprocessor only when it is enabled, which is off by default."""
    assert plugin.LostPointsFirst().enabled
    assert plugin.LostPointsFirst in plugin.FEEDBACK_PREPROCESSORS


def test_feedback_never_shows_a_hidden_test_region():
    """nbgrader issue #917: generate_feedback shows the autograded notebook,
    where autograde restored any hidden-test region of a graded cell."""
    cell = graded_cell()
    cell.source += f'\n### BEGIN HIDDEN TESTS\nassert "{SECRET}"\n### END HIDDEN TESTS\n'
    hiding = [p for p in plugin.FEEDBACK_PREPROCESSORS if issubclass(p, ClearHiddenTests)]
    assert hiding == [plugin.FEEDBACK_PREPROCESSORS[0]], "hidden tests go before anything reads the cells"
    nb, _ = hiding[0]().preprocess(new_notebook(cells=[cell]), {})
    assert SECRET not in nb.cells[0].source and '# public check' in nb.cells[0].source


def test_an_item_not_written_yet_is_one_line():
    stub = 'optim.nesterov: not implemented (Implement nesterov in scratchnn/optim.py)'
    tests = [{'name': f'case {k}', 'score': 0, 'max_score': 1, 'output': stub, 'number': 'nesterov'}
             for k in range(10)]
    text = plugin.item_messages('nesterov', 0, 10, tests)
    assert text == f"nesterov: 0 / 10 points from the course autograder's hidden tests: not written yet ({stub})\n"


def test_a_zip_of_modules_alone_gets_the_released_notebooks(tmp_path):
    """zip_collect's extractor: a submission of modules only gets the released
    notebooks, so that nbgrader grades it; one with notebooks is left as it is."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import LoggingConfigurable
    archive, extracted = tmp_path / 'archive', tmp_path / 'extracted'
    archive.mkdir()
    for student, names in (('bob', ['layers.py', 'optim.py']), ('ann', ['01_a.ipynb', 'scratchnn/layers.py'])):
        with zipfile.ZipFile(archive / f'{student}.zip', 'w') as z:
            for name in names:
                z.writestr(name, '{}')
    app = LoggingConfigurable()       # zip_collect, as far as the extractor sees it
    app.coursedir = CourseDirectory(root=str(REPO), release_directory='assignments', assignment_id=ASSIGNMENT)
    extractor = plugin.ReleasedNotebooksExtractor(parent=app)
    extractor.extract(str(archive), str(extracted))
    assert sorted(p.name for p in (extracted / 'bob').glob('*.ipynb')) == sorted(p.name for p in RELEASE.glob('*.ipynb'))
    assert [p.name for p in (extracted / 'ann').glob('*.ipynb')] == ['01_a.ipynb']


# ----------------------------------------------------------- nbgrader courses

def nbgrader(course, *args):
    """Run an nbgrader command in the course folder; returns the process."""
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ['PATH']]))
    return subprocess.run([sys.executable, '-m', 'nbgrader', *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=1800)


def make_course(root, config_lines=()):
    """A course folder with the source, the repository's config and a gradebook
    that knows the release, as `python -m coursekit release` records it (the
    committed release: no generate_assignment to run)."""
    course = root / 'course'
    shutil.copytree(SOLUTIONS, course / 'solutions' / ASSIGNMENT, ignore=IGNORE)
    (course / 'nbgrader_config.py').write_text('\n'.join([
        'c = get_config()',
        f'load_subconfig({str(REPO / "nbgrader_config.py")!r})',
        f'c.CourseDirectory.root = {str(course)!r}',
        *config_lines]) + '\n')
    record_release(f'sqlite:///{course / "gradebook.db"}', RELEASE)
    return course


def submit(course, student, package):
    """submitted/<student>/nn_from_scratch/: the released notebooks and `package`."""
    folder = course / 'submitted' / student / ASSIGNMENT
    folder.mkdir(parents=True)
    for nb in RELEASE.glob('*.ipynb'):
        shutil.copy(nb, folder)
    shutil.copytree(package, folder / 'scratchnn', ignore=IGNORE)
    return folder


def auto_scores(course, student):
    """{grade cell: auto_score} of the student's submission in the course gradebook."""
    from nbgrader.api import Gradebook
    with Gradebook(f'sqlite:///{course / "gradebook.db"}', course_id=COURSE_ID) as gb:
        submission = gb.find_submission(ASSIGNMENT, student)
        return {g.name: g.auto_score for nb in submission.notebooks for g in nb.grades}


def feedback_html(course, student):
    folder = course / 'feedback' / student / ASSIGNMENT
    return {p.name: p.read_text() for p in sorted(folder.glob('*.html'))}


def hidden_suite_lines():
    """Distinctive code lines of the hidden suites: none may reach a student."""
    lines = set()
    for path in (REPO / 'autograder').rglob('*.py'):
        if 'suites' not in path.parts:
            continue
        for line in path.read_text().splitlines():
            line = line.strip()
            # code, not a lone string literal or comment (messages may quote those)
            if len(line) >= 25 and not line.startswith(('#', '"', "'", 'f"', "f'")) and '(' in line:
                lines.add(line)
    assert len(lines) > 50, 'no hidden suite source found to look for'
    return lines


@pytest.mark.slow
def test_a_grader_that_fails_records_no_grade(tmp_path):
    bad = tmp_path / 'bad_harness.py'
    bad.write_text('def grade_submission(folder, **options):\n'
                   '    return {"score": 0, "max_score": 100, "tests": [], "items": {}}\n')
    course = make_course(tmp_path, [f'import sys; sys.path.insert(0, {str(tmp_path)!r})',
                                    "c.HarnessGrades.grader = 'bad_harness:grade_submission'"])
    submit(course, 'cat', SOLUTIONS / 'scratchnn')
    proc = nbgrader(course, 'autograde', ASSIGNMENT, '--force')
    assert proc.returncode != 0
    assert 'incomplete' in proc.stderr
    scores = auto_scores(course, 'cat')
    # no item got a grade (nbgrader would give full points to an empty graded cell)
    assert all(scores[item] is None for item in ITEMS)
