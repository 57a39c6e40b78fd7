"""The warm grader of grade-all's workers (autograder/integrations/warm.py): a fork per
submission grades exactly as `python -m autograder grade` does, and a grading
that hangs, fails or kills its warm process costs only that submission."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.integrations import cluster
from autograder.integrations.cluster import GradeFailed
from autograder.fingerprint import grader_fingerprint
from autograder.integrations.warm import WarmGrader

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / 'solutions' / 'nn_from_scratch'
RELEASE = REPO / 'assignments' / 'nn_from_scratch'
ONE_ITEM = ['--items', 'linear_forward', '--quiet']

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def grader():
    warm = WarmGrader()
    yield warm
    warm.close()


def grade(grader, folder, tmp_path, name, timeout=300):
    log_dir = tmp_path / name
    log_dir.mkdir()
    out = log_dir / 'results.json'
    code, cpu, stderr = grader.grade([folder, '--json', out, *ONE_ITEM], timeout, log_dir)
    return code, cpu, stderr, out


def test_it_loads_the_graders_version(grader):
    assert grader.fingerprint == grader_fingerprint()


def test_each_fork_grades_like_the_grade_command(grader, tmp_path):
    code, cpu, _, out = grade(grader, SOLUTIONS, tmp_path, 'solutions')
    assert code == 0 and json.loads(out.read_text())['items']['linear_forward']['score'] == 3
    assert cpu > 0
    code, _, _, out = grade(grader, RELEASE, tmp_path, 'stubs')
    assert code == 0 and json.loads(out.read_text())['items']['linear_forward']['score'] == 0


def test_a_bad_submission_exits_2_with_its_reason(grader, tmp_path):
    code, _, stderr, _ = grade(grader, tmp_path / 'nothing-here', tmp_path, 'bad')
    assert code == 2 and 'nothing-here' in stderr.read_text()


def test_a_grading_past_its_time_is_killed_and_the_next_one_grades(grader, tmp_path):
    with pytest.raises(GradeFailed, match='longer than 0.5 s'):
        grade(grader, SOLUTIONS, tmp_path, 'slow', timeout=0.5)
    assert grader.alive
    code, _, _, out = grade(grader, SOLUTIONS, tmp_path, 'after')
    assert code == 0 and json.loads(out.read_text())['score'] == 3


def test_a_dead_warm_process_fails_one_attempt_and_is_restarted(tmp_path):
    fingerprint = grader_fingerprint()
    first = cluster.warm_grader(fingerprint, 'here')
    assert cluster.warm_grader(fingerprint, 'here') is first    # kept warm between tasks
    os.kill(first.proc.pid, 9)
    first.proc.wait(timeout=10)
    with pytest.raises(GradeFailed, match='warm grader died'):
        grade(first, SOLUTIONS, tmp_path, 'dead')
    second = cluster.warm_grader(fingerprint, 'here')
    assert second is not first and second.alive
    second.close()


def test_a_warm_process_of_another_version_is_replaced(tmp_path):
    fingerprint = grader_fingerprint()
    first = cluster.warm_grader(fingerprint, 'here')
    first.fingerprint = 'an older grader'
    second = cluster.warm_grader(fingerprint, 'here')
    assert second is not first and not first.alive and second.fingerprint == fingerprint
    with pytest.raises(GradeFailed, match='changed'):
        cluster.warm_grader('a fingerprint no file gives', 'here')
    assert not second.alive
    cluster.warm_grader(fingerprint, 'here').close()


def test_the_warm_process_leaves_out_what_dask_sets_for_its_workers(monkeypatch):
    """A Dask worker trims its heap at every 64 KiB freed (MALLOC_TRIM_THRESHOLD_,
    which Dask's nanny sets): a grading that inherits it pays 0.1-0.2 CPU-s."""
    monkeypatch.setenv('MALLOC_TRIM_THRESHOLD_', '65536')
    monkeypatch.setenv('SCRATCHNN_PROBE', 'kept')
    warm = WarmGrader()
    try:
        environ = Path(f'/proc/{warm.proc.pid}/environ').read_bytes().split(b'\0')
    finally:
        warm.close()
    assert b'SCRATCHNN_PROBE=kept' in environ
    assert not any(v.startswith(b'MALLOC_TRIM_THRESHOLD_=') for v in environ)


FORK_AND_USE_CUDA = """
import os
from autograder.integrations.warm import warm_up
warm_up()
pid = os.fork()
if pid == 0:
    import torch
    try:
        torch.zeros(1, device='cuda')
    except BaseException as e:
        print(f"the fork cannot use CUDA: {e}", flush=True)
        os._exit(1)
    os._exit(0)
_, status = os.waitpid(pid, 0)
raise SystemExit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not __import__('torch').cuda.is_available(),
                    reason="needs CUDA: whether a fork of the warm process can initialise it")
def test_a_fork_of_the_warm_process_can_use_cuda():
    """The warm process must not poison fork for CUDA (asking the driver
    whether CUDA is there does): its gradings on a GPU would fail every
    CUDA test, a wrong grade for every student."""
    done = subprocess.run([sys.executable, '-c', FORK_AND_USE_CUDA], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
