"""The Gradescope autograder zip: built, unpacked into a fake /autograder (a
temporary root, $AUTOGRADER_ROOT) and run as Gradescope runs it, on uploads
of every layout; the slow test checks the scores against `grade`'s."""
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.integrations import gradescope
from autograder.integrations.grade_all import ASSIGNMENT
from autograder.rubric import load_rubric, student_modules
from conftest import REPO, RELEASE, SOLUTIONS

ITEMS = load_rubric()
# items that tell the sample students apart (cy's mistakes are in softmax_loss and adam)
SOME_ITEMS = 'relu_forward,softmax_loss,sgd,adam'


@pytest.fixture(scope='module')
def autograder_root(tmp_path_factory):
    """A fake /autograder: the zip unpacked into source/, run_autograder beside it."""
    root = tmp_path_factory.mktemp('autograder')
    archive = root / 'autograder.zip'
    gradescope.build_zip(archive)
    with zipfile.ZipFile(archive) as z:
        z.extractall(root / 'source')
        for info in z.infolist():          # extractall drops the mode bits
            (root / 'source' / info.filename).chmod((info.external_attr >> 16) & 0o777)
    shutil.copy(root / 'source' / 'run_autograder', root / 'run_autograder')
    return root


def run_autograder(root, upload, *args):
    """Put `upload` (a folder's content, or a file) in root/submission, run
    run_autograder there; returns (process, results dict or None)."""
    submission, results = root / 'submission', root / 'results' / 'results.json'
    shutil.rmtree(submission, ignore_errors=True)
    results.unlink(missing_ok=True)
    submission.mkdir()
    if Path(upload).is_dir():
        shutil.copytree(upload, submission, dirs_exist_ok=True)
    else:
        shutil.copy(upload, submission)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    proc = subprocess.run([str(root / 'run_autograder'), *args], env=env, capture_output=True,
                          text=True, timeout=900, cwd='/')
    return proc, json.loads(results.read_text()) if results.exists() else None


def test_the_zip_holds_the_grader_and_no_solution(tmp_path):
    names = gradescope.build_zip(tmp_path / 'ag.zip')
    assert {'setup.sh', 'run_autograder', 'requirements.txt', 'constraints.txt',
            'autograder/harness.py', 'autograder/rubric.toml', 'autograder/suites/test_layers.py'} <= set(names)
    # the trusted given modules only: never a student module (it would be a solution)
    package = [n for n in names if n.startswith(gradescope.RELEASE_PACKAGE)]
    assert package and not any(Path(n).stem in student_modules() for n in package)
    assert not any('solutions/' in n or '__pycache__' in n for n in names)
    with zipfile.ZipFile(tmp_path / 'ag.zip') as z:
        for script in ('setup.sh', 'run_autograder'):
            assert z.getinfo(script).external_attr >> 16 & stat.S_IXUSR
            subprocess.run(['bash', '-n'], input=z.read(script), check=True)   # valid bash
        assert 'bubblewrap' in z.read('setup.sh').decode()
        assert z.read('constraints.txt') == (REPO / 'constraints.txt').read_bytes()
        assert 'torch' in z.read('requirements.txt').decode().split()


def test_cli_writes_the_zip(tmp_path, capsys):
    from autograder.cli import main
    assert main(['gradescope-zip', str(tmp_path / 'out' / 'autograder.zip')]) == 0
    assert zipfile.is_zipfile(tmp_path / 'out' / 'autograder.zip')
    assert main(['gradescope-zip', str(tmp_path / 'autograder.tar')]) == 2


def test_the_text_gradescope_shows_starts_with_the_total():
    """The written questions count on Gradescope too: pending, in the same total."""
    results = {'score': 32, 'max_score': 100, 'tests': [], 'items': {}, 'output': 'printed',
               'written': {'score': None, 'max_score': 19}}
    assert gradescope.with_total_first(results)['output'] == \
        'Total: 32 / 119: autograded 32 / 100, written questions pending / 19 (graded by hand)\n\nprinted'


def test_every_upload_layout_reads_the_same_modules(tmp_path):
    """The folder, the five modules, a zip of either: the same packed modules."""
    from autograder.isolation.intake import pack
    modules = student_modules()
    folder = tmp_path / 'folder' / ASSIGNMENT
    shutil.copytree(SOLUTIONS / 'scratchnn', folder / 'scratchnn')
    loose = tmp_path / 'loose'
    loose.mkdir()
    for module in modules:
        shutil.copy(SOLUTIONS / 'scratchnn' / f'{module}.py', loose)
    zipped = tmp_path / 'zipped'
    zipped.mkdir()
    shutil.make_archive(zipped / 'upload', 'zip', tmp_path / 'folder')
    zipped_loose = tmp_path / 'zipped_loose'
    zipped_loose.mkdir()
    shutil.make_archive(zipped_loose / 'modules', 'zip', loose)
    packs = [pack(p, modules) for p in (tmp_path / 'folder', loose, zipped, zipped_loose)]
    assert sorted(packs[0]['sources']) == modules
    assert all(p['sources'] == packs[0]['sources'] for p in packs)


def test_an_upload_with_nothing_to_grade_gets_0_and_says_what_to_upload(autograder_root, tmp_path):
    upload = tmp_path / 'upload'
    upload.mkdir()
    (upload / '01_layers_and_gradient_checking.ipynb').write_text('{}')
    proc, results = run_autograder(autograder_root, upload)
    assert proc.returncode == 0, proc.stderr
    assert results['score'] == 0 and results['tests'] == []
    assert 'notebooks' in results['output'] and 'Upload your nn_from_scratch folder' in results['output']
    assert str(autograder_root) not in results['output']


@pytest.mark.slow
def test_run_autograder_grades_the_sample_students_like_grade(autograder_root, tmp_path):
    from coursekit.samples import make_submission
    uploads = {}
    for student in ('ada', 'ben', 'cy'):
        make_submission(student, RELEASE, SOLUTIONS / 'scratchnn', tmp_path / student / ASSIGNMENT)
    uploads['ada'] = tmp_path / 'ada'                          # the nn_from_scratch folder
    uploads['ben'] = tmp_path / 'ben_modules'                  # the five modules
    uploads['ben'].mkdir()
    for module in student_modules():
        shutil.copy(tmp_path / 'ben' / ASSIGNMENT / 'scratchnn' / f'{module}.py', uploads['ben'])
    uploads['cy'] = Path(shutil.make_archive(tmp_path / 'cy', 'zip', tmp_path / 'cy'))   # a zip
    scores = {}
    for student, upload in uploads.items():
        alone = subprocess.Popen([sys.executable, '-m', 'autograder', 'grade',      # meanwhile
                                  str(tmp_path / student / ASSIGNMENT), '--items', SOME_ITEMS,
                                  '--json', str(tmp_path / f'{student}.json')],
                                 cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        proc, results = run_autograder(autograder_root, upload, '--items', SOME_ITEMS)
        _, stderr = alone.communicate(timeout=900)
        assert proc.returncode == 0 and alone.returncode == 0, proc.stderr + stderr
        scores[student] = results['score']
        expected = json.loads((tmp_path / f'{student}.json').read_text())
        assert results['items'] == expected['items'], student
        assert results['score'] == expected['score']
        assert [(t['name'], t['score']) for t in results['tests']] == \
            [(t['name'], t['score']) for t in expected['tests']]
        assert 'hidden tests' in stderr                     # `grade` shows its progress
    full = sum(ITEMS[i].points for i in SOME_ITEMS.split(','))
    assert scores['ada'] == full and scores['ben'] == 0 and 0 < scores['cy'] < full
