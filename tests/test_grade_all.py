"""grade-all on Dask: a class graded on a local cluster, retried, resumed,
partly regraded, refused by the wrong workers, into files, a CSV and a gradebook.

The mechanics run a fast fake grade command on real Dask workers
(tests/fake_grade.py, in place of `python -m autograder grade`); the slow
tests grade real submissions with the real harness, on a local cluster and
on a `dask scheduler` with `dask worker`s started as processes.
"""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from autograder.integrations import cluster, grade_all as ga

from autograder.isolation import intake
from autograder.fingerprint import grader_fingerprint
from autograder.rubric import load_rubric, student_modules
from conftest import REPO, RELEASE, SOLUTIONS
from postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)

ITEMS = load_rubric()
MODULES = student_modules()
FAKE = [sys.executable, str(REPO / 'tests' / 'fake_grade.py')]


def make_student(root, student, log, nbgrader_layout=False, **settings):
    """A submission whose fake grade follows settings (see fake_grade.py); its
    five modules are there, layers.py holding the settings."""
    folder = root / student / ga.ASSIGNMENT if nbgrader_layout else root / student
    package = folder / 'scratchnn'
    package.mkdir(parents=True, exist_ok=True)
    settings = {'STUDENT': student, 'LOG': str(log), 'FRACTION': 1.0, **settings}
    (package / 'layers.py').write_text(''.join(f'{k} = {v!r}\n' for k, v in settings.items()))
    for module in MODULES:
        if module != 'layers':
            (package / f'{module}.py').write_text(f'# {module} of {student}\n')
    return folder


def calls(log):
    """[(student, items)] the fake grader was called for, in order."""
    if not Path(log).exists():
        return []
    return [tuple(line.split()[:2]) for line in Path(log).read_text().splitlines()]


def read_csv(path):
    with open(path, newline='') as f:
        return {row['student']: row for row in csv.DictReader(f)}


def results_of(out, student):
    return json.loads((out / student / 'results.json').read_text())


@pytest.fixture(scope='module')
def client():
    """A local Dask cluster of two worker processes, as grade-all starts one."""
    with cluster.connect(workers=2) as dask_client:
        yield dask_client


@pytest.fixture
def klass(tmp_path):
    """Four students in both layouts; returns (submissions dir, out dir, log)."""
    subs, log = tmp_path / 'submitted', tmp_path / 'calls.log'
    make_student(subs, 'ada', log, FRACTION=1.0)
    make_student(subs, 'bob', log, nbgrader_layout=True, FRACTION=0.5)
    make_student(subs, 'cy', log, FRACTION=0.25)
    make_student(subs, 'dee', log, nbgrader_layout=True, FRACTION=0.0)
    return subs, tmp_path / 'grades', log


def run(subs, out, client, **kwargs):
    kwargs.setdefault('db_url', None)
    return ga.grade_all(subs, out, client=client, command=FAKE, progress=False, **kwargs)


# ------------------------------------------------------------ the class folder

def test_every_entry_of_a_class_folder_is_graded_or_listed(tmp_path):
    subs, log = tmp_path / 'submitted', tmp_path / 'log'
    make_student(subs, 'ada', log)
    make_student(subs, 'bob', log, nbgrader_layout=True)
    make_student(tmp_path / 'zips', 'cy', log)
    with zipfile.ZipFile(subs / 'cy.zip', 'w') as z:                 # a zip per student
        for path in (tmp_path / 'zips' / 'cy').rglob('*.py'):
            z.write(path, path.relative_to(tmp_path / 'zips'))
    (subs / 'dee').mkdir()                                           # an LMS folder holding one zip
    shutil.copy(subs / 'cy.zip', subs / 'dee' / 'dee_submission.zip')
    (subs / 'eve' / 'nn_from_scratch').mkdir(parents=True)           # notebooks only
    (subs / 'eve' / 'nn_from_scratch' / '01_layers.ipynb').write_text('{}')
    (subs / 'fay.ipynb').write_text('{}')                            # a lone notebook
    (subs / 'gus').mkdir()                                           # nothing
    make_student(subs, 'hal', log)                                   # a folder and a zip
    shutil.copy(subs / 'cy.zip', subs / 'hal.zip')
    (subs / 'notes.txt').write_text('to do')
    (subs / '.DS_Store').write_text('')
    entries, ignored = intake.scan_class(subs, MODULES)
    found = {e.student: e for e in entries}
    assert sorted(found) == ['ada', 'bob', 'cy', 'dee', 'eve', 'fay', 'gus', 'hal']
    for student in ('ada', 'bob', 'cy', 'dee'):
        assert sorted(found[student].packed['sources']) == MODULES, student
        assert b"STUDENT = " in found[student].packed['sources']['layers']
    assert 'notebooks' in found['eve'].problem and '01_layers.ipynb' in found['eve'].problem
    assert 'notebook only' in found['fay'].problem
    assert 'is empty' in found['gus'].problem
    assert 'hal and hal.zip' in found['hal'].problem and found['hal'].packed is None
    assert dict(ignored) == {'notes.txt': 'not a student folder, a .zip or a notebook',
                             '.DS_Store': 'hidden'}


def test_a_packed_submission_unpacks_to_what_the_grader_reads(tmp_path):
    folder = make_student(tmp_path, 'ada', tmp_path / 'log')
    (folder / 'scratchnn' / 'optim.py').unlink()
    os.symlink(SOLUTIONS / 'scratchnn' / 'optim.py', folder / 'scratchnn' / 'optim.py')
    packed = intake.pack(folder, MODULES)
    assert 'optim' not in packed['sources'] and 'symbolic link' in packed['problems']['optim']
    again = intake.pack(intake.unpack(packed, tmp_path / 'copy'), MODULES)
    assert again['sources'] == {**packed['sources'], 'optim': again['sources']['optim']}
    # the refused module becomes the module the sandbox would put in its place
    assert again['sources']['optim'] == f"raise ImportError({packed['problems']['optim']!r})\n".encode()
    assert intake.digest(packed) != intake.digest(intake.pack(make_student(tmp_path, 'bo', 'x'), MODULES))


@pytest.mark.parametrize('make, message', [
    (lambda p: p / 'nowhere', 'nowhere does not exist'),
    (lambda p: (p / 'empty').mkdir() or p / 'empty', 'holds no student submissions'),
    (lambda p: written(p / 'a.zip', b'PK'), 'not a folder of student submissions'),
])
def test_grade_all_bad_paths_give_one_line_errors(tmp_path, capsys, make, message):
    assert ga.main([str(make(tmp_path)), '--no-db']) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith('error: ') and err.count('\n') == 1


@pytest.mark.parametrize('make, message', [
    (lambda p: p / 'nowhere', 'nowhere does not exist'),
    (lambda p: written(p / 'x.zip', b'not a zip'), 'not a valid zip'),
    (lambda p: make_notebook_only(p), 'holds notebooks'),
    (lambda p: make_class(p), 'looks like a class folder (2 student submissions'),
])
def test_grade_bad_paths_give_one_line_errors(tmp_path, capsys, make, message):
    from autograder.cli import main
    assert main(['grade', str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith('error: ') and err.count('\n') == 1


def written(path, data):
    path.write_bytes(data)
    return path


def make_notebook_only(root):
    (root / 'nb' / 'nn_from_scratch').mkdir(parents=True)
    (root / 'nb' / 'nn_from_scratch' / '02_init.ipynb').write_text('{}')
    return root / 'nb'


def make_class(root):
    make_student(root / 'class', 'ada', 'x')
    make_student(root / 'class', 'bob', 'x', nbgrader_layout=True)
    return root / 'class'


# ------------------------------------------------------------ grading on Dask

def test_a_class_graded_on_two_workers(klass, client):
    subs, out, log = klass
    old_umask = os.umask(0o027)
    try:
        summary = run(subs, out, client)
    finally:
        os.umask(old_umask)
    assert sorted(summary.graded) == ['ada', 'bob', 'cy', 'dee'] and not summary.errors
    rows = read_csv(out / 'scores.csv')
    with open(out / 'scores.csv', newline='') as f:
        assert next(csv.reader(f)) == ['student', *ITEMS, 'written', 'total', 'max_score', 'error']
    for student, fraction in [('ada', 1.0), ('bob', 0.5), ('cy', 0.25), ('dee', 0.0)]:
        results = results_of(out, student)
        assert results['items']['fc_net']['score'] == ITEMS['fc_net'].points * fraction
        assert float(rows[student]['total']) == pytest.approx(100 * fraction)
        grading = results['grading']
        assert grading['fingerprint'] == grader_fingerprint() and grading['attempts'] == 1
        assert set(grading['items']) == set(ITEMS)
        assert f'{100 * fraction:g} / 100' in (out / student / 'feedback.html').read_text()
        for name in ('results.json', 'feedback.html'):        # readable as the umask says
            assert (out / student / name).stat().st_mode & 0o777 == 0o640
    assert (out / 'scores.csv').stat().st_mode & 0o777 == 0o640
    # both workers graded
    assert len({results_of(out, s)['grading']['worker'] for s in summary.graded}) == 2
    assert sorted(s for s, _ in calls(log)) == ['ada', 'bob', 'cy', 'dee']


def test_grades_start_without_the_settings_dask_keeps_for_its_workers(klass, client):
    """The embedded cluster's workers trim their heap eagerly (Dask's
    MALLOC_TRIM_THRESHOLD_) and, here, profile nothing: a grade they start
    inherits neither the trimming (0.1-0.2 CPU-s a grading) nor Dask's profiler."""
    subs, out, log = klass
    assert set(client.run(os.environ.get, 'MALLOC_TRIM_THRESHOLD_').values()) == {'65536'}
    import dask
    profiling = client.run(dask.config.get, 'distributed.worker.profile.enabled')
    assert set(profiling.values()) == {False}
    run(subs, out, client)
    trims = [line.split()[3] for line in log.read_text().splitlines()]
    assert len(trims) == 4 and set(trims) == {'-'}


def test_a_failing_student_is_tried_twice_then_recorded_and_the_rest_go_on(klass, client):
    subs, out, log = klass
    make_student(subs, 'cy', log, MODE='crash')
    summary = run(subs, out, client)
    assert sorted(summary.graded) == ['ada', 'bob', 'dee']
    assert [s for s, _ in calls(log)].count('cy') == 2
    assert 'the harness fell over; then GradeFailed' in summary.errors['cy']
    assert 'the harness fell over' in (out / 'cy' / 'error.txt').read_text()
    rows = read_csv(out / 'scores.csv')
    assert 'the harness fell over' in rows['cy']['error'] and rows['cy']['total'] == ''


def test_a_worker_killed_mid_grade_costs_a_retry_not_a_student(klass, client):
    subs, out, log = klass
    make_student(subs, 'bob', log, nbgrader_layout=True, FRACTION=0.5, MODE='kill-worker-once')
    summary = run(subs, out, client)
    assert Path(str(log) + '.killed').exists()              # a worker did die mid-grade
    assert sorted(summary.graded) == ['ada', 'bob', 'cy', 'dee'] and not summary.errors
    students = [s for s, _ in calls(log)]
    assert students.count('bob') == 2 and all(students.count(s) == 1 for s in ('ada', 'cy', 'dee'))
    assert results_of(out, 'bob')['score'] == 50
    client.wait_for_workers(2, timeout=60)                   # the nanny brought it back


def test_the_client_rejects_results_not_graded_in_the_sandbox(klass, client):
    from autograder.isolation.sandbox import bwrap_status
    if not bwrap_status()[0]:
        pytest.skip(f"bubblewrap does not work here ({bwrap_status()[1]}): the sandboxed mode cannot run")
    subs, out, log = klass
    make_student(subs, 'cy', log, MODE='unsandboxed')
    summary = run(subs, out, client, sandbox='bwrap')
    assert 'not graded in the bubblewrap sandbox' in summary.errors['cy']
    assert sorted(summary.graded) == ['ada', 'bob', 'dee']


@pytest.mark.slow
def test_a_stopped_client_resumes_with_the_unfinished_students(klass, client):
    subs, out, log = klass
    for student in ('cy', 'dee'):
        make_student(subs, student, log, nbgrader_layout=student == 'dee', MODE='sleep', SLEEP=120)
    # -X faulthandler: should it not stop, SIGABRT prints where every thread waits
    args = [sys.executable, '-X', 'faulthandler', '-m', 'autograder', 'grade-all', str(subs),
            '--out', str(out), '--workers', '2', '--no-db', '--grade-command', ' '.join(FAKE)]
    # As from a terminal: Ctrl-C acts (an earlier test may leave this process
    # ignoring SIGINT, and a child inherits that; Python then keeps ignoring it).
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not all((out / s / 'results.json').exists() for s in ('ada', 'bob')) \
            or len(calls(log)) < 4:
        assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read()
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)                           # the instructor presses Ctrl-C
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        output = proc.communicate(timeout=30)[0]
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"grade-all did not stop within 60 s of Ctrl-C; where it waited:\n{output[-8000:]}")
    assert not (out / 'cy' / 'results.json').exists()
    for student in ('cy', 'dee'):
        make_student(subs, student, log, nbgrader_layout=student == 'dee')   # (sleep no more)
    summary = run(subs, out, client)
    assert sorted(summary.skipped) == ['ada', 'bob']
    assert sorted(s for s, _ in calls(log)[4:]) == ['cy', 'dee']
    assert float(read_csv(out / 'scores.csv')['ada']['total']) == 100


def test_up_to_date_students_are_kept_and_changed_ones_regraded(klass, client):
    subs, out, log = klass
    run(subs, out, client)
    assert len(calls(log)) == 4
    summary = run(subs, out, client)
    assert sorted(summary.skipped) == ['ada', 'bob', 'cy', 'dee'] and len(calls(log)) == 4
    make_student(subs, 'cy', log, FRACTION=0.75)             # a late resubmission
    (out / 'dee' / 'results.json').write_text('{"items": {}}')   # a damaged results file
    summary = run(subs, out, client)
    assert sorted(s for s, _ in calls(log)[4:]) == ['cy', 'dee']
    assert results_of(out, 'cy')['score'] == 75
    run(subs, out, client, students=['ada'])                 # --students regrades them
    assert calls(log)[6:] == [('ada', 'all')]
    run(subs, out, client, force=True)
    assert sorted(s for s, _ in calls(log)[7:]) == ['ada', 'bob', 'cy', 'dee']


def test_items_regrade_only_those_items_and_merge(klass, client, tmp_path):
    subs, out, log = klass
    suite = tmp_path / 'suite_version'
    suite.write_text('1.0')
    for student in ('ada', 'cy'):
        make_student(subs, student, log, SCORES=str(suite))
    run(subs, out, client)
    before = {s: results_of(out, s) for s in ('ada', 'cy')}
    suite.write_text('0.5')            # a fixed hidden test now gives half the points
    run(subs, out, client, items=['sgd', 'adam'], force=True)
    assert sorted((s, frozenset(i.split(','))) for s, i in calls(log)[4:]) == \
        [(s, frozenset({'sgd', 'adam'})) for s in ('ada', 'bob', 'cy', 'dee')]
    for student in ('ada', 'cy'):
        after = results_of(out, student)
        for item in ITEMS:
            expected = ITEMS[item].points * (0.5 if item in ('sgd', 'adam') else 1.0)
            assert after['items'][item]['score'] == expected, (student, item)
        assert after['score'] == 100 - (ITEMS['sgd'].points + ITEMS['adam'].points) / 2
        assert [t['number'] for t in after['tests']] == [t['number'] for t in before[student]['tests']]
    rows = read_csv(out / 'scores.csv')
    assert float(rows['ada']['sgd']) == ITEMS['sgd'].points / 2


def test_which_items_a_run_grades():
    entry = intake.Entry('ada', Path('ada'), packed={'sources': {'layers': b'x'}, 'problems': {}})
    digest = intake.digest(entry.packed)
    items = list(ITEMS)
    old = {'grading': {'submission': digest, 'items': {i: 'v1' for i in items}}}
    assert ga.plan(entry, None, items, 'v1', None, False).items is None           # never graded
    assert ga.plan(entry, old, items, 'v1', None, False) is None                  # up to date
    assert ga.plan(entry, old, items, 'v2', None, False) is None                  # kept (and noted)
    assert ga.plan(entry, old, items, 'v1', None, True).items is None             # --force
    assert ga.plan(entry, old, items, 'v1', ['sgd'], False) is None               # sgd is current
    assert ga.plan(entry, old, items, 'v2', ['sgd'], False).items == ['sgd']      # the suite changed
    assert ga.plan(entry, old, items, 'v1', ['sgd'], True).items == ['sgd']
    changed = {'grading': dict(old['grading'], submission='another')}
    assert ga.plan(entry, changed, items, 'v1', ['sgd'], False).items is None     # resubmitted: all


# ------------------------------------------------------------ refusals

def test_a_worker_with_another_grader_version_refuses(klass, client, monkeypatch):
    subs, out, log = klass
    import autograder.fingerprint
    monkeypatch.setattr(autograder.fingerprint, 'grader_fingerprint', lambda: 'f' * 64)
    with pytest.raises(ga.GradeAllError, match='no worker can grade'):
        run(subs, out, client)
    assert calls(log) == []
    # and the task itself refuses, should a worker change after the check
    packed = intake.pack(subs / 'ada', MODULES)
    with pytest.raises(cluster.WorkerRefused, match='another version of the grader'):
        cluster.grade_task(packed, fingerprint='f' * 64, require_sandbox=False, command=FAKE)
    assert calls(log) == []


def test_a_worker_without_bubblewrap_refuses_on_a_cluster(klass, tmp_path, capsys):
    from distributed import LocalCluster
    subs, out, log = klass
    no_bwrap = tmp_path / 'bin'
    no_bwrap.mkdir()
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None,
                      env={'PATH': str(no_bwrap)}) as nobwrap_cluster:
        address = nobwrap_cluster.scheduler_address
        with pytest.raises(ga.GradeAllError, match=r'no worker can grade'):
            ga.grade_all(subs, out, scheduler=address, command=FAKE, progress=False, db_url=None)
        with pytest.raises(ga.GradeAllError, match='sandbox is required'):
            ga.grade_all(subs, out, scheduler=address, sandbox='auto', progress=False, db_url=None)
        from autograder.cli import main
        assert main(['check-workers', '--scheduler', address]) == 1
        printed = capsys.readouterr().out
        assert 'NONE' in printed and 'bubblewrap (bwrap) is not installed' in printed
        assert grader_fingerprint()[:12] in printed
    assert calls(log) == []


def test_grade_task_refuses_without_a_sandbox_when_one_is_required(tmp_path, monkeypatch):
    import autograder.isolation.sandbox
    monkeypatch.setattr(autograder.isolation.sandbox, 'bwrap_status', lambda cuda=False: (False, 'no bwrap here'))
    packed = intake.pack(make_student(tmp_path, 'ada', tmp_path / 'log'), MODULES)
    with pytest.raises(cluster.WorkerRefused, match='no working sandbox'):
        cluster.grade_task(packed, fingerprint=grader_fingerprint(), require_sandbox=True, command=FAKE)
    assert calls(tmp_path / 'log') == []
    # a worker that could not even load the grader is refused with the reason
    broken = ModuleNotFoundError("No module named 'autograder'")
    assert 'cannot run the grader' in cluster.refusal(broken, grader_fingerprint(), False)
    assert cluster.refusal(cluster.worker_report(), grader_fingerprint(), False) == ''


def test_grade_task_stops_a_grade_at_its_time_limit(tmp_path):
    packed = intake.pack(make_student(tmp_path, 'ada', tmp_path / 'log', MODE='sleep', SLEEP=60), MODULES)
    start = time.monotonic()
    with pytest.raises(cluster.GradeFailed, match='longer than 2 s'):
        cluster.grade_task(packed, fingerprint=grader_fingerprint(), require_sandbox=False,
                           command=FAKE, timeout=2)
    assert time.monotonic() - start < 30
    pid = int(Path(tmp_path / 'log').read_text().split()[2])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)                                   # killed, not left behind


# ------------------------------------------------------------ the gradebook

def gradebook_rows(url):
    """{(student, cell): count} of grade rows in the gradebook at url."""
    import sqlalchemy
    engine = sqlalchemy.create_engine(url)
    query = sqlalchemy.text(
        "SELECT student.id, base_cell.name, COUNT(*) FROM grade "
        "JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
        "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
        "JOIN student ON submitted_assignment.student_id = student.id "
        "JOIN base_cell ON grade.cell_id = base_cell.id "
        "GROUP BY student.id, base_cell.name")
    with engine.connect() as connection:
        rows = {(s, c): n for s, c, n in connection.execute(query)}
    engine.dispose()
    return rows


@pytest.fixture(scope='module')
def course_gradebook(tmp_path_factory):
    """A SQLite gradebook that knows the assignment (made once: nbgrader records
    every cell of the five notebooks); tests copy it."""
    from autograder.integrations.gradebook import ensure_assignment
    path = tmp_path_factory.mktemp('gradebook') / 'gradebook.db'
    ensure_assignment(f'sqlite:///{path}', ITEMS)
    return path


def fresh_gradebook(course_gradebook, tmp_path):
    shutil.copy(course_gradebook, tmp_path / 'gradebook.db')
    return tmp_path / 'gradebook.db'


def check_gradebook(url):
    """record_scores, twice over (as after a retry and a regrade): one row per
    student and item, holding the latest score."""
    from nbgrader.api import Gradebook
    from autograder.integrations.gradebook import record_scores
    results = {s: {'items': {i: {'score': info.points * f} for i, info in ITEMS.items()}}
               for s, f in [('ada', 1.0), ('bob', 0.5)]}
    record_scores(url, results, ITEMS)
    results['bob']['items']['sgd']['score'] = 0
    record_scores(url, results, ITEMS)
    rows = gradebook_rows(url)
    assert {(s, i) for s in ('ada', 'bob') for i in ITEMS} <= set(rows)
    assert set(rows.values()) == {1}
    with Gradebook(url, course_id=ga.COURSE_ID) as gb:
        assert sorted(s.id for s in gb.students) == ['ada', 'bob']
        bob = gb.find_submission(ga.ASSIGNMENT, 'bob')
        assert bob.code_score == pytest.approx(50 - ITEMS['sgd'].points / 2)
        answer = gb.find_grade('q_relu_kink', '01_layers_and_gradient_checking', ga.ASSIGNMENT, 'ada')
        assert answer.auto_score is None                   # hand-graded answers stay for the grader


def test_gradebook_on_sqlite_one_row_per_student_and_item(course_gradebook, tmp_path):
    check_gradebook(f'sqlite:///{fresh_gradebook(course_gradebook, tmp_path)}')


@pytest.mark.slow
def test_gradebook_on_postgresql_one_row_per_student_and_item(postgres_url):
    check_gradebook(postgres_url)     # from an empty database: nbgrader creates every table


# nbgrader's plugin with a stand-in grader: every item 2/3 of its points.
FAKE_GRADER = '''
import os
from autograder.rubric import load_rubric
def grade_submission(folder, *, device=None, workers=None):
    """Every item gets 2/3 of its points; one failing test per item."""
    with open(os.path.join(os.path.dirname(__file__), 'calls.log'), 'a') as log:
        log.write(str(folder) + "\\n")
    items = load_rubric({rubric!r})
    scores = {{k: {{'score': float(v.points) * 2 / 3, 'max_score': float(v.points)}} for k, v in items.items()}}
    tests = [{{'name': k + ' hidden case', 'score': 0.0, 'max_score': 1.0,
               'output': 'FAKE-MESSAGE for ' + k, 'number': k}} for k in items]
    return {{'score': sum(v['score'] for v in scores.values()), 'max_score': 100.0,
             'tests': tests, 'items': scores}}
'''


@pytest.mark.slow
def test_nbgrader_and_grade_all_share_a_postgresql_gradebook(postgres_url, tmp_path):
    """The course's nbgrader (plugin and all) and grade-all on one PostgreSQL
    gradebook: nbgrader's --db URL is grade-all's --db-url."""
    from nbgrader.api import Gradebook

    from autograder.integrations.gradebook import record_release
    from test_nbgrader import make_course, nbgrader, submit
    course = make_course(tmp_path, [f'import sys; sys.path.insert(0, {str(tmp_path)!r})',
                                    "c.HarnessGrades.grader = 'fake_harness:grade_submission'",
                                    f'c.CourseDirectory.db_url = {postgres_url!r}'])
    record_release(postgres_url, RELEASE)   # as `python -m coursekit release` does on this course
    (tmp_path / 'fake_harness.py').write_text(FAKE_GRADER.format(rubric=str(ga.RUBRIC)))
    package = make_student(tmp_path / 'packages', 'ann', tmp_path / 'calls.log') / 'scratchnn'
    submit(course, 'ann', package)
    autograde = nbgrader(course, 'autograde', ga.ASSIGNMENT, '--force')
    assert autograde.returncode == 0, autograde.stderr
    with Gradebook(postgres_url, course_id=ga.COURSE_ID) as gb:      # the plugin's scores, 2/3
        assert gb.find_submission(ga.ASSIGNMENT, 'ann').code_score == pytest.approx(200 / 3)
    status = ga.main([str(course / 'submitted'), '--out', str(tmp_path / 'grades'), '--workers', '1',
                      '--db-url', postgres_url, '--grade-command', ' '.join(FAKE)])
    assert status == 0
    with Gradebook(postgres_url, course_id=ga.COURSE_ID) as gb:      # grade-all's, in place
        assert gb.find_submission(ga.ASSIGNMENT, 'ann').code_score == pytest.approx(100)
    rows = gradebook_rows(postgres_url)
    assert {(s, i) for s in ['ann'] for i in ITEMS} <= set(rows) and set(rows.values()) == {1}


def test_gradebook_errors_are_one_line(course_gradebook, tmp_path):
    from autograder.integrations.gradebook import GradebookError, db_url, ensure_assignment, record_scores
    assert db_url('gb.db') == f'sqlite:///{Path("gb.db").resolve()}'
    with pytest.raises(GradebookError, match='cannot open the gradebook postgresql://x:\\*\\*\\*@127.0.0.1:9/none'):
        record_scores('postgresql://x:secret@127.0.0.1:9/none', {}, ITEMS)
    from autograder.rubric import Item
    items = dict(ITEMS, not_a_cell=Item('not_a_cell', '01_layers_and_gradient_checking.ipynb', (),
                                        {'test_x': 1}))
    with pytest.raises(GradebookError, match='not_a_cell'):
        ensure_assignment(f'sqlite:///{fresh_gradebook(course_gradebook, tmp_path)}', items)


# ------------------------------------------------------------ hostile students (issue 20)

SAID = 'Traceback?\ud800 \x1b[2J\x1b]0;owned\x07 \u202eevil <script>x</script>\r\n=1+1'
FORMULA = '=HYPERLINK("evil.example","ok")'
NOT_UTF8 = os.fsdecode(b'\xff\x1b[31m')


def add_hostile_students(subs, log):
    """Into the class of klass: bob's code says hostile things; a student
    named scores.csv, one whose id is a formula, a folder whose name is not
    UTF-8, and zips with two members of one name and with a name flagged
    UTF-8 that is not."""
    from hostile_text import raw_zip
    make_student(subs, 'bob', log, nbgrader_layout=True, SAID=SAID, FRACTION=0.5)
    make_student(subs, 'scores.csv', log, FRACTION=0.5)
    make_student(subs, FORMULA, log, FRACTION=0.5)
    module = b"STUDENT = 'zed'\n"
    (subs / NOT_UTF8 / 'scratchnn').mkdir(parents=True)
    (subs / NOT_UTF8 / 'scratchnn' / 'layers.py').write_bytes(module)
    (subs / 'twice.zip').write_bytes(raw_zip([(b'scratchnn/layers.py', module, 0),
                                              (b'scratchnn/./layers.py', module, 0)]))
    (subs / 'badname.zip').write_bytes(raw_zip([(b'scratchnn/layers.py', module, 0),
                                                (b'scratchnn/\xff.py', b'', 0x800)]))


def test_cli_exit_status_summary_and_gradebook(klass, course_gradebook, tmp_path, capsys, monkeypatch):
    """The command on a class with hostile students too: every other student
    is graded; scores.csv, the feedback pages and the gradebook are complete;
    each hostile one is recorded with its reason, or graded with what it said
    kept as data (never a formula, a class file, a terminal control); a
    student whose page cannot be written is recorded, and the rest go on."""
    from autograder import report, text
    subs, out, log = klass
    make_student(subs, 'cy', log, MODE='crash')
    (subs / 'eve').mkdir()
    add_hostile_students(subs, log)
    db = fresh_gradebook(course_gradebook, tmp_path)
    render = report.render

    def render_but_not_for_dee(results, student='', **kwargs):
        if student == 'dee':
            raise OSError(28, 'No space left on device')
        return render(results, student, **kwargs)
    monkeypatch.setattr(report, 'render', render_but_not_for_dee)
    status = ga.main([str(subs), '--out', str(out), '--workers', '1', '--db-url', str(db),
                      '--grade-command', ' '.join(FAKE)])
    printed = capsys.readouterr().out
    assert status == 1
    assert 'graded 4, kept 0 up to date, failed 6' in printed
    assert 'cy: NOT GRADED: GradeFailed' in printed and 'eve: NOT GRADED' in printed
    assert '\\udcff\\x1b[31m: NOT GRADED: the name' in printed and '\x1b' not in printed
    assert 'grading' in printed                               # the progress bar
    graded = {'ada', 'bob', 'scores.csv', FORMULA}
    rows = read_csv(out / 'scores.csv')
    assert set(rows) == {text.csv_cell(s) for s in graded | {'cy', 'dee', 'eve', 'twice', 'badname',
                                                             '\\udcff\\x1b[31m'}}
    assert 'its results could not be written: OSError' in rows['dee']['error']
    assert not (out / 'dee' / 'results.json').exists()       # a resumed run grades dee again
    assert 'not valid UTF-8 or holds control characters' in rows['\\udcff\\x1b[31m']['error']
    assert 'two members with one name' in rows['twice']['error']
    assert 'marked UTF-8 but is not' in rows['badname']['error']
    assert rows["'" + FORMULA]['total'] == rows['scores.csv']['total'] == '50'
    for student in graded:
        folder = ga.student_dir(out, student)
        assert json.loads((folder / 'results.json').read_text())['score'] == float(rows[text.csv_cell(student)]['total'])
        assert (folder / 'feedback.html').is_file()
    said = (ga.student_dir(out, 'bob') / 'feedback.html').read_text(encoding='utf-8')
    assert '\\ud800 \\x1b[2J' in said and '&lt;script&gt;' in said and '\x1b' not in said
    assert {s for s, _ in gradebook_rows(f'sqlite:///{db}')} == graded


# ------------------------------------------------------------ the real harness

def sample_class(root, students):
    """The demo's sample students (coursekit.samples) as a class folder."""
    from coursekit.samples import make_submission
    for student in students:
        make_submission(student, RELEASE, SOLUTIONS / 'scratchnn', root / student / ga.ASSIGNMENT)
    return root


def grade_alone(folder, out):
    """`python -m autograder grade` on one folder, started now (a Popen)."""
    return subprocess.Popen([sys.executable, '-m', 'autograder', 'grade', str(folder), '--json',
                             str(out), '--quiet'], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def same_scores(results, alone):
    assert results['items'] == alone['items']
    assert results['score'] == alone['score']
    assert [(t['name'], t['score']) for t in results['tests']] == \
        [(t['name'], t['score']) for t in alone['tests']]


NO_MAX_SHIFT = ('shifted = x - x.max(dim=1, keepdim=True).values', 'shifted = x')
MIAS_SOFTMAX = (
    '    # YOUR CODE HERE\n    raise NotImplementedError("Implement softmax_loss in scratchnn/layers.py")\n',
    '    num = x.shape[0]\n    e = torch.exp(x)\n    p = e / e.sum(1, keepdim=True)\n'
    '    loss = -torch.log(p[torch.arange(num), y]).sum() / num\n    dx = p.clone()\n'
    '    dx[torch.arange(num), y] = dx[torch.arange(num), y] - 1\n    dx = dx / num\n')


def copies_class(root):
    """A class folder of three: ada (the solution); abe, ada's code with its
    variables renamed and softmax's max shift left out; mia, who handed in two
    modules only: layers.py with a softmax_loss of her own (no max shift
    either; the rest the release's stubs) and an optim.py that waits forever
    at import (a missing module fails its items at once: mia grades fast)."""
    from coursekit.samples import make_submission
    from coursekit.submissions import Append, RenameLocals, build_package
    make_submission('ada', RELEASE, SOLUTIONS / 'scratchnn', root / 'ada' / ga.ASSIGNMENT)
    abe = root / 'abe' / ga.ASSIGNMENT
    shutil.copytree(RELEASE, abe)
    build_package(abe / 'scratchnn', SOLUTIONS / 'scratchnn',
                  {m: [NO_MAX_SHIFT] * (m == 'layers') + [RenameLocals()] for m in MODULES}, modules=MODULES)
    build_package(root / 'mia' / ga.ASSIGNMENT / 'scratchnn', RELEASE / 'scratchnn',
                  {'layers': [MIAS_SOFTMAX],
                   'optim': [Append('\nwhile True:   # until the plot shows (time is no allowed import)\n    pass\n')]},
                  modules=['layers', 'optim'])
    return root


@pytest.fixture(scope='module')
def graded_copies(tmp_path_factory):
    """copies_class graded by `python -m autograder grade-all` on two workers:
    (submissions folder, grades folder)."""
    tmp = tmp_path_factory.mktemp('copies')
    subs, out = copies_class(tmp / 'submitted'), tmp / 'grades'
    proc = subprocess.run([sys.executable, '-m', 'autograder', 'grade-all', str(subs), '--workers',
                           '2', '--out', str(out), '--no-db'], cwd=REPO, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return subs, out


@pytest.mark.slow
def test_a_local_cluster_grades_like_grade(graded_copies, tmp_path):
    subs, out = graded_copies
    alone = {s: grade_alone(subs / s / ga.ASSIGNMENT, tmp_path / f'{s}.json') for s in ('ada', 'abe')}
    for student, grading in alone.items():
        assert grading.wait(timeout=900) == 0, grading.stderr.read()
        same_scores(results_of(out, student), json.loads((tmp_path / f'{student}.json').read_text()))
    assert results_of(out, 'ada')['score'] == 100 and results_of(out, 'abe')['score'] < 100


def browser_dom(page, tmp_path):
    """The DOM of page after headless Chromium loaded it, with, on <body>,
    data-images: how many of its images the browser decoded (a script added to
    a copy of the page, for the test only: the page itself has none)."""
    from test_pipeline import HEADLESS, chromium
    probe = ("<script>addEventListener('load', () => document.body.dataset.images = "
             "[...document.images].filter(i => i.complete && i.naturalWidth > 0).length)</script>")
    copy = page.with_name('probe-' + page.name)
    copy.write_text(page.read_text().replace('</body>', probe + '</body>'))
    return subprocess.run([chromium(), *HEADLESS, f'--user-data-dir={tmp_path / "profile"}',
                           '--virtual-time-budget=5000', '--dump-dom', copy.as_uri()],
                          capture_output=True, text=True, timeout=120).stdout


@pytest.mark.slow
def test_the_class_page_in_a_browser(graded_copies, tmp_path):
    """grades/class.html, drawn by headless Chromium: every histogram decoded,
    the softmax mistake one reason of two students, mia's time-out listed,
    ada and abe the one similar pair."""
    from test_pipeline import chromium
    if chromium() is None:
        pytest.skip("Chromium is not installed (.ci/run installs it)")
    subs, out = graded_copies
    page = out / 'class.html'
    dom = browser_dom(page, tmp_path)
    images = page.read_text().count('<img ')
    assert images == 1 + len(ITEMS) + 1                 # the totals, each item, the pairs' scores
    assert f'data-images="{images}"' in dom
    reasons = re.findall(r'<tr class="reason"><td>softmax_loss</td>.*?</tr>', dom)
    assert reasons, "softmax_loss lost points for a reason"
    first = reasons[0]
    assert '<td class="num count">2</td>' in first
    assert '<a href="abe/feedback.html">abe</a>' in first and '<a href="mia/feedback.html">mia</a>' in first
    incidents = dom[dom.index('<table id="incidents">'):dom.index('</table>', dom.index('<table id="incidents">'))]
    assert re.search(r'mia</a></td><td>ran out of time</td><td>sgd, ', incidents)
    assert 'did not finish within' in incidents and '>ada<' not in incidents and '>abe<' not in incidents
    pairs = re.findall(r'<tr class="pair"><td class="num">\d+</td><td>(.*?)</td><td>(.*?)</td>', dom)
    assert pairs == [('<a href="abe/feedback.html">abe</a>', '<a href="ada/feedback.html">ada</a>')]
    assert '<mark>' in dom and 'my_shifted' in dom


def dask_process(*args, cwd=REPO, env=None):
    """`dask scheduler` / `dask worker` as a process of its own."""
    dask = Path(sys.executable).with_name('dask')
    return subprocess.Popen([str(dask), *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


@pytest.mark.slow
def test_a_dask_scheduler_and_workers_grade_the_sample_class(tmp_path):
    from autograder.isolation.sandbox import bwrap_status
    from coursekit.samples import surprises
    if not bwrap_status()[0]:
        pytest.skip(f"bubblewrap does not work here ({bwrap_status()[1]}): a cluster refuses to grade")
    # a second copy of the course whose hidden suites differ: its worker must refuse
    other = tmp_path / 'other_course'
    for part in ('autograder', 'assignments', 'solutions'):
        shutil.copytree(REPO / part, other / part, ignore=shutil.ignore_patterns('__pycache__'))
    with open(other / 'autograder' / 'suites' / 'test_layers.py', 'a') as f:
        f.write('\n# an edit on one node only\n')
    scheduler_file = tmp_path / 'scheduler.json'
    env = dict(os.environ, PYTHONPATH=str(REPO))      # scheduler and workers load the grader
    procs = [dask_process('scheduler', '--scheduler-file', str(scheduler_file), '--port', '0',
                          '--no-dashboard', '--host', '127.0.0.1', env=env)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, 'the dask scheduler did not start'
            time.sleep(0.2)
        time.sleep(0.5)
        address = json.loads(scheduler_file.read_text())['address']
        worker = ['worker', address, '--nthreads', '1', '--no-dashboard', '--host', '127.0.0.1']
        procs.append(dask_process(*worker, '--name', 'good', env=env))
        procs.append(dask_process(*worker, '--name', 'stale', cwd=other,
                                  env=dict(os.environ, PYTHONPATH=str(other))))
        from distributed import Client
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        check = subprocess.run([sys.executable, '-m', 'autograder', 'check-workers', '--scheduler',
                                address], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert check.returncode == 1 and '1 of 2 workers can grade' in check.stdout, check.stdout
        assert 'another version of the grader' in check.stdout
        subs = sample_class(tmp_path / 'submitted', ['ada', 'ben', 'cy'])
        out = tmp_path / 'grades'
        proc = subprocess.run([sys.executable, '-m', 'autograder', 'grade-all', str(subs),
                               '--scheduler', address, '--out', str(out), '--no-db'],
                              cwd=REPO, capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert 'left out: it grades with another version of the grader' in proc.stdout
        for student in ('ada', 'ben', 'cy'):
            results = results_of(out, student)
            assert results['sandbox'] == 'bubblewrap'
            assert surprises(student, results) == [], student
            assert results['grading']['worker'] != '' and results['grading']['attempts'] == 1
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
