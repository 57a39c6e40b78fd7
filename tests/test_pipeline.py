"""The instructor pipeline end to end (`make demo`), and the feedback page it
produces, looked at in a real headless browser."""
import csv
import json
import shutil
import subprocess
import sys

import nbformat
import pytest

from autograder.integrations.grade_all import ASSIGNMENT
from autograder.results import course_total
from conftest import REPO
from coursekit import demo, samples
from test_nbgrader import ITEMS, auto_scores, feedback_html, hidden_suite_lines


@pytest.mark.slow
def test_every_sample_student_gets_the_expected_grade(demo_course):
    _, results = demo_course
    assert set(results) == set(samples.STUDENTS)
    for student, result in results.items():
        assert samples.surprises(student, result) == [], student
    assert results['ada']['score'] == results['ada']['max_score'] == 100
    assert results['ben']['score'] == 0
    assert 0 < results['cy']['score'] < 100
    assert 0 < results['eve']['score'] < 100


@pytest.mark.slow
def test_gradebook_export_matches_the_harness(demo_course):
    folder, results = demo_course
    with open(folder / 'grades.csv') as f:
        rows = {row['student_id']: row for row in csv.DictReader(f)}
    assert set(rows) == set(samples.STUDENTS)
    for student, result in results.items():
        # the same total and maximum as every other path: the written answers are pending
        assert (float(rows[student]['raw_score']), float(rows[student]['max_score'])) == \
            pytest.approx(course_total(result)), student


@pytest.mark.slow
def test_hostile_student_planted_no_result_anywhere(demo_course):
    folder, results = demo_course
    planted = [p for p in folder.rglob('results.json')
               if '"score": 100, "max_score": 100, "tests": []' in p.read_text()]
    assert planted == []
    assert results['eve']['sandbox'] == 'bubblewrap' or 'WARNING' in results['eve']['sandbox']


def chromium():
    return shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')


HEADLESS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            '--hide-scrollbars']


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (.ci/run installs it)")
def test_feedback_page_in_a_browser(demo_course, tmp_path):
    """Open cy's feedback page in headless Chromium: the rendered page shows the
    score table and a failure message, and the screenshot is not blank."""
    folder, results = demo_course
    page = folder / 'feedback' / 'cy' / demo.ASSIGNMENT / 'index.html'
    common = [chromium(), *HEADLESS, f'--user-data-dir={tmp_path / "profile"}']
    dom = subprocess.run([*common, '--dump-dom', page.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert '<table id="scores">' in dom
    score, max_score = course_total(results['cy'])     # the written questions, pending, included
    assert f"Total: <b>{score:g} / {max_score:g}</b>" in dom
    assert 'softmax_loss' in dom and 'failed' in dom
    assert 'NaN or inf' in dom  # why the no-max-shift softmax failed, in the student's words
    # first things first: cy's lost items before the folded full marks
    lost = [item for item, p in results['cy']['items'].items() if p['score'] < p['max_score']]
    assert 'softmax_loss' in lost and 'linear_forward' not in lost
    folded = dom.index('<details id="full">')
    assert all(dom.index(f'<section class="item" id="{item}">') < folded for item in lost)
    assert dom.index('<section class="item" id="linear_forward">') > folded
    shot = tmp_path / 'feedback.png'
    subprocess.run([*common, f'--screenshot={shot}', '--window-size=1200,1600', page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    import matplotlib.image
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] >= 1000 and pixels.shape[1] >= 1000
    assert pixels[..., :3].std() > 0.05  # text and a table, not an empty page
    shutil.copy(shot, folder / 'feedback-cy.png')  # for a person to look at


# ------------------------------------------------------------ the real harness

def cli_grade(folder, out):
    """Scores from `python -m autograder grade` on a submission folder."""
    proc = subprocess.run([sys.executable, '-m', 'autograder', 'grade', str(folder), '--json', str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


# The real harness, through the demo pipeline's course (tests/conftest.py;
# its tests are all in this file, so that `pytest -n --dist loadfile` builds
# it once):
# ada wrote the solution, ben handed in the blank release, cy made mistakes
# and prints debugging output to stderr, eve is hostile.

@pytest.mark.slow
def test_autograde_scores_match_the_grade_command(demo_course, tmp_path):
    course, _ = demo_course
    for student in ('cy',):   # ben's zeros are checked below
        expected = cli_grade(course / 'submitted' / student / ASSIGNMENT, tmp_path / f'{student}.json')
        scores = auto_scores(course, student)
        for item in ITEMS:
            assert scores[item] == pytest.approx(expected['items'][item]['score'], abs=1e-9), (student, item)
    full = auto_scores(course, 'ada')
    assert all(full[item] == ITEMS[item].points for item in ITEMS)
    assert sum(auto_scores(course, 'ben')[item] for item in ITEMS) == 0
    # cy's mistakes cost points where they are: her own modules were graded, not the solution's
    assert auto_scores(course, 'cy')['adam'] < ITEMS['adam'].points


@pytest.mark.slow
def test_stderr_from_student_code_does_not_zero_a_cell(demo_course):
    course, _ = demo_course
    assert "file=_sys.stderr" in (course / 'submitted' / 'cy' / ASSIGNMENT / 'scratchnn' / 'layers.py').read_text()
    scores = auto_scores(course, 'cy')
    assert scores['linear_forward'] == ITEMS['linear_forward'].points
    for path in (course / 'autograded' / 'cy' / ASSIGNMENT).glob('*.ipynb'):
        for cell in nbformat.read(path, as_version=4).cells:
            assert not any(o.get('name') == 'stderr' for o in cell.get('outputs', []))


@pytest.mark.slow
def test_real_feedback_shows_messages_not_hidden_source(demo_course):
    course, _ = demo_course
    text = '\n'.join(feedback_html(course, 'cy').values())
    assert f"adam: {auto_scores(course, 'cy')['adam']:g} / 3 points" in text
    assert '[FAIL]' in text and '[PASS]' in text
    leaked = [line for line in hidden_suite_lines() if line in text]
    assert leaked == []
