"""grade-all: a whole class graded in parallel, resumable, into a CSV and the gradebook.

The mechanics run with a fast fake grader (fake_grade below, in the worker
processes); one slow test grades real submissions with the real harness.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import grade_all as ga
from conftest import REPO, RELEASE, SOLUTIONS

ITEMS = ga.rubric_items()
FAKE = 'test_grade_all:fake_grade'


def fake_grade(folder, *, device=None, workers=None):
    """A stand-in for the harness: every item scores points * the fraction in
    scratchnn/FRACTION; 'crash' there raises. Logs each call to $FAKE_GRADER_LOG."""
    folder = Path(folder)
    with open(os.environ['FAKE_GRADER_LOG'], 'a') as log:
        log.write(f"{folder.parent.name if folder.name == ga.ASSIGNMENT else folder.name} {os.getpid()}\n")
    text = (folder / 'scratchnn' / 'FRACTION').read_text().strip()
    if text == 'crash':
        raise RuntimeError('the harness fell over')
    time.sleep(float(os.environ.get('FAKE_GRADER_SLEEP', '0')))
    items = {item: {'score': info['points'] * float(text), 'max_score': info['points']}
             for item, info in ITEMS.items()}
    tests = [{'name': f'{item} works', 'score': v['score'], 'max_score': v['max_score'],
              'output': '', 'number': item} for item, v in items.items()]
    return {'score': sum(v['score'] for v in items.values()), 'max_score': 100.0,
            'tests': tests, 'items': items, 'sandbox': {'pid': os.getpid()}}


def make_student(root, student, fraction, nbgrader_layout=False):
    """A submission folder whose fake grade is `fraction` of every item."""
    folder = root / student / ga.ASSIGNMENT if nbgrader_layout else root / student
    (folder / 'scratchnn').mkdir(parents=True)
    (folder / 'scratchnn' / 'FRACTION').write_text(str(fraction))
    return folder


def calls(log):
    """Student ids the fake grader was called for, in order."""
    return [line.split()[0] for line in Path(log).read_text().splitlines()] if Path(log).exists() else []


def read_csv(path):
    with open(path, newline='') as f:
        return {row['student']: row for row in csv.DictReader(f)}


@pytest.fixture
def klass(tmp_path, monkeypatch):
    """A class of four students in both layouts; returns (submissions dir, out dir, log)."""
    subs = tmp_path / 'submitted'
    make_student(subs, 'ada', 1.0)
    make_student(subs, 'bob', 0.5, nbgrader_layout=True)
    make_student(subs, 'cy', 0.25)
    make_student(subs, 'dee', 0, nbgrader_layout=True)
    log = tmp_path / 'calls.log'
    monkeypatch.setenv('FAKE_GRADER_LOG', str(log))
    return subs, tmp_path / 'grades', log


def run(subs, out, **kwargs):
    kwargs.setdefault('db', None)
    return ga.grade_all(subs, out, grader=FAKE, progress=False, **kwargs)


def test_find_submissions_both_layouts(klass):
    subs, out, _ = klass
    (subs / '.hidden').mkdir()
    (subs / 'empty').mkdir()
    found = {s.student: s for s in ga.find_submissions(subs)}
    assert sorted(found) == ['ada', 'bob', 'cy', 'dee', 'empty']
    assert found['ada'].folder == subs / 'ada'
    assert found['bob'].folder == subs / 'bob' / ga.ASSIGNMENT
    assert found['empty'].folder is None and 'no scratchnn/' in found['empty'].problem


def test_parallel_run_writes_results_and_csv(klass, monkeypatch):
    subs, out, log = klass
    monkeypatch.setenv('FAKE_GRADER_SLEEP', '0.5')
    summary = run(subs, out, workers=2)
    assert sorted(summary.graded) == ['ada', 'bob', 'cy', 'dee'] and not summary.errors
    # two worker processes shared the work
    assert len({json.loads((out / s / 'results.json').read_text())['sandbox']['pid']
                for s in summary.graded}) == 2
    rows = read_csv(out / 'scores.csv')
    with open(out / 'scores.csv', newline='') as f:
        assert next(csv.reader(f)) == ['student', *ITEMS, 'total', 'error']
    for student, fraction in [('ada', 1.0), ('bob', 0.5), ('cy', 0.25), ('dee', 0.0)]:
        results = json.loads((out / student / 'results.json').read_text())
        assert results['items']['fc_net']['score'] == ITEMS['fc_net']['points'] * fraction
        for item, info in ITEMS.items():
            assert float(rows[student][item]) == pytest.approx(info['points'] * fraction)
        assert float(rows[student]['total']) == pytest.approx(100 * fraction)
        assert rows[student]['error'] == ''


def test_default_out_dir_is_next_to_submissions(klass):
    subs, _, _ = klass
    summary = run(subs, None)
    assert summary.csv_path == subs.parent / 'grades' / 'scores.csv'
    assert (subs.parent / 'grades' / 'ada' / 'results.json').exists()


def test_broken_submissions_do_not_stop_the_rest(klass):
    subs, out, log = klass
    (subs / 'cy' / 'scratchnn' / 'FRACTION').write_text('crash')
    (subs / 'eve').mkdir()                                  # nothing submitted
    summary = run(subs, out, workers=2)
    assert sorted(summary.graded) == ['ada', 'bob', 'dee']
    assert 'the harness fell over' in summary.errors['cy']
    assert 'no scratchnn/' in summary.errors['eve']
    rows = read_csv(out / 'scores.csv')
    assert 'the harness fell over' in rows['cy']['error'] and rows['cy']['total'] == ''
    assert 'the harness fell over' in (out / 'cy' / 'error.txt').read_text()
    assert not (out / 'cy' / 'results.json').exists()
    assert float(rows['ada']['total']) == 100


def test_exit_status_nonzero_only_when_nothing_graded(klass, tmp_path, capsys):
    subs, out, _ = klass
    (subs / 'cy' / 'scratchnn' / 'FRACTION').write_text('crash')
    assert ga.main([str(subs), '--out', str(out), '--no-db', '--grader', FAKE]) == 0
    assert 'cy: RuntimeError: the harness fell over' in capsys.readouterr().out
    broken = tmp_path / 'broken'
    make_student(broken, 'zed', 'crash')
    (broken / 'yan').mkdir()
    assert ga.main([str(broken), '--out', str(tmp_path / 'g2'), '--no-db', '--grader', FAKE]) == 1


def test_cli_subcommand(klass, capsys):
    from autograder.cli import main
    subs, out, log = klass
    assert main(['grade-all', str(subs), '--workers', '2', '--out', str(out), '--no-db', '--grader', FAKE]) == 0
    printed = capsys.readouterr().out
    assert 'grading' in printed and 'graded 4' in printed     # the progress bar, the summary
    assert float(read_csv(out / 'scores.csv')['bob']['total']) == 50


def test_resume_skips_finished_students(klass):
    subs, out, log = klass
    run(subs, out)
    assert sorted(calls(log)) == ['ada', 'bob', 'cy', 'dee']
    # a stopped run: one student's results never got written
    (out / 'cy' / 'results.json').unlink()
    summary = run(subs, out, workers=2)
    assert calls(log)[4:] == ['cy']
    assert sorted(summary.skipped) == ['ada', 'bob', 'dee']
    assert float(read_csv(out / 'scores.csv')['ada']['total']) == 100   # kept students stay in the CSV
    # a submission changed after it was graded is graded again
    later = time.time() + 5
    os.utime(subs / 'bob' / ga.ASSIGNMENT / 'scratchnn' / 'FRACTION', (later, later))
    run(subs, out)
    assert calls(log)[5:] == ['bob']
    # --force regrades everyone
    run(subs, out, force=True)
    assert sorted(calls(log)[6:]) == ['ada', 'bob', 'cy', 'dee']


def test_incomplete_results_are_regraded(klass):
    subs, out, log = klass
    run(subs, out)
    results = json.loads((out / 'ada' / 'results.json').read_text())
    del results['items']['fc_net']
    (out / 'ada' / 'results.json').write_text(json.dumps(results))
    run(subs, out)
    assert calls(log)[4:] == ['ada']


def test_results_written_atomically(tmp_path):
    path = tmp_path / 'ada' / 'results.json'
    ga.write_json_atomic(path, {'score': 1})
    with pytest.raises(TypeError):
        ga.write_json_atomic(path, {'score': object()})    # fails half-way through
    assert json.loads(path.read_text()) == {'score': 1}
    assert [p.name for p in path.parent.iterdir()] == ['results.json']


def test_grader_results_missing_an_item_is_an_error(tmp_path):
    with pytest.raises(ValueError, match='fc_net'):
        ga.check_results({'items': {i: {'score': 1} for i in ITEMS if i != 'fc_net'}}, ITEMS)


def test_gradebook_records_item_scores(klass, tmp_path):
    from nbgrader.api import Gradebook
    subs, out, _ = klass
    db = tmp_path / 'gradebook.db'
    run(subs, out, db=db)
    url = f'sqlite:///{db}'
    with Gradebook(url, course_id=ga.COURSE_ID) as gb:
        assert sorted(s.id for s in gb.students) == ['ada', 'bob', 'cy', 'dee']
        for student, fraction in [('ada', 1.0), ('bob', 0.5), ('dee', 0.0)]:
            for item, info in ITEMS.items():
                grade = gb.find_grade(item, Path(info['notebook']).stem, ga.ASSIGNMENT, student)
                assert grade.auto_score == pytest.approx(info['points'] * fraction)
                assert grade.max_score == info['points'] and not grade.needs_manual_grade
            # hand-graded answers stay for the grader
            answer = gb.find_grade('q_relu_kink', '01_layers_and_gradient_checking', ga.ASSIGNMENT, student)
            assert answer.auto_score is None
        assert gb.find_submission(ga.ASSIGNMENT, 'bob').code_score == pytest.approx(50)
    # a regrade updates the scores in place
    (subs / 'ada' / 'scratchnn' / 'FRACTION').write_text('0.5')
    run(subs, out, db=db)
    with Gradebook(url, course_id=ga.COURSE_ID) as gb:
        assert gb.find_submission(ga.ASSIGNMENT, 'ada').code_score == pytest.approx(50)


def test_gradebook_needs_the_rubric_cells(tmp_path):
    items = dict(ITEMS, not_a_cell={'notebook': '01_layers_and_gradient_checking.ipynb', 'points': 1})
    with pytest.raises(ValueError, match='not_a_cell'):
        ga.ensure_assignment(f'sqlite:///{tmp_path / "gb.db"}', items)


# ------------------------------------------------------------ the real harness

def real_class(root):
    """Three submissions: the solution, the blank release and one without scratchnn."""
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
    shutil.copytree(SOLUTIONS / 'scratchnn', root / 'full' / 'scratchnn', ignore=ignore)
    shutil.copytree(RELEASE / 'scratchnn', root / 'blank' / ga.ASSIGNMENT / 'scratchnn', ignore=ignore)
    (root / 'nothing').mkdir(parents=True)
    return root


@pytest.mark.slow
def test_cli_grades_a_class_with_the_harness(tmp_path):
    if not (REPO / 'autograder' / 'harness.py').exists():
        pytest.fail('autograder/harness.py is not there yet')
    subs = real_class(tmp_path / 'submitted')
    out, db = tmp_path / 'grades', tmp_path / 'gradebook.db'
    proc = subprocess.run([sys.executable, '-m', 'autograder', 'grade-all', str(subs), '--workers', '2',
                           '--out', str(out), '--db', str(db)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'grading' in proc.stdout        # the progress bar
    rows = read_csv(out / 'scores.csv')
    assert float(rows['full']['total']) == 100
    assert float(rows['blank']['total']) == 0
    assert 'no scratchnn/' in rows['nothing']['error']
    from nbgrader.api import Gradebook
    with Gradebook(f'sqlite:///{db}', course_id=ga.COURSE_ID) as gb:
        assert gb.find_submission(ga.ASSIGNMENT, 'full').code_score == pytest.approx(100)
        assert gb.find_submission(ga.ASSIGNMENT, 'blank').code_score == 0
