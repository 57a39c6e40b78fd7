"""scratchnn.colab, the setup cell's helper in Google Colab, with a fake
`google.colab` whose drive.mount links a temporary folder in: the assignment
folder is copied to Drive once, never over the student's files, and becomes
the working folder; without Drive the clone is, and the cell says so."""
import os
import shutil
import sys
import types

import pytest

from conftest import RELEASE
from scratchnn import colab


@pytest.fixture
def content(tmp_path, monkeypatch):
    """A Colab runtime's /content, holding the setup cell's clone of the course;
    the current folder, sys.path and the imported scratchnn are restored afterwards."""
    folder = tmp_path / 'content'
    shutil.copytree(RELEASE, folder / colab.CLONE, ignore=shutil.ignore_patterns('__pycache__'))
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, 'path', list(sys.path))
    imported = {name: module for name, module in sys.modules.items() if name.split('.')[0] == 'scratchnn'}
    yield folder
    for name in [name for name in sys.modules if name.split('.')[0] == 'scratchnn']:
        del sys.modules[name]
    sys.modules.update(imported)


@pytest.fixture
def drive(tmp_path, monkeypatch):
    """A fake google.colab whose drive.mount(mountpoint) links mountpoint/MyDrive
    to a folder that outlives the runtime; the list of mounts it was asked for."""
    my_drive = tmp_path / 'google-drive'
    my_drive.mkdir()
    mounts = []

    def mount(mountpoint, **kwargs):
        mounts.append(mountpoint)
        os.makedirs(mountpoint, exist_ok=True)
        if not os.path.exists(os.path.join(mountpoint, 'MyDrive')):
            os.symlink(my_drive, os.path.join(mountpoint, 'MyDrive'))

    google = types.ModuleType('google')
    google.colab = types.ModuleType('google.colab')
    google.colab.drive = types.SimpleNamespace(mount=mount)
    monkeypatch.setitem(sys.modules, 'google', google)
    monkeypatch.setitem(sys.modules, 'google.colab', google.colab)
    return my_drive, mounts


def test_first_run_copies_the_assignment_to_drive(content, drive, capsys):
    my_drive, mounts = drive
    folder = colab.setup(keep_on_drive=True)
    assert mounts == [str(content / 'drive')]
    assert folder == content / 'drive' / 'MyDrive' / 'nn_from_scratch'
    assert (my_drive / 'nn_from_scratch' / 'scratchnn' / 'layers.py').read_bytes() == \
        (RELEASE / 'scratchnn' / 'layers.py').read_bytes()
    assert os.getcwd() == str(folder.resolve()) and sys.path[0] == str(folder)
    assert str(content / colab.CLONE) not in sys.path
    assert 'scratchnn' not in sys.modules, "the clone's scratchnn is forgotten"
    out = capsys.readouterr()
    assert out.err == ''
    assert out.out.splitlines() == ['Working in Google Drive, MyDrive/nn_from_scratch (copied from the '
                                    'course just now): your edits there survive the runtime.']


def test_the_students_files_on_drive_are_never_overwritten(content, drive, capsys):
    my_drive, _ = drive
    mine = my_drive / 'nn_from_scratch' / 'scratchnn' / 'layers.py'
    mine.parent.mkdir(parents=True)
    mine.write_text('# my work\n')
    colab.setup(keep_on_drive=True)
    assert mine.read_text() == '# my work\n'
    assert (my_drive / 'nn_from_scratch' / 'scratchnn' / 'optim.py').is_file(), "missing files are added"
    line = capsys.readouterr().out.strip()
    assert line.startswith('Working in Google Drive, MyDrive/nn_from_scratch (your copy, ')
    assert 'new course files added' in line
    colab.setup(keep_on_drive=True)
    assert '(your copy)' in capsys.readouterr().out


def test_without_drive_the_clone_is_the_working_folder(content, drive, capsys):
    _, mounts = drive
    folder = colab.setup(keep_on_drive=False)
    assert mounts == [] and folder == content / colab.CLONE and os.getcwd() == str(folder)
    assert capsys.readouterr().out.strip() == (f'Working in {folder} (KEEP_ON_DRIVE = False): '
                                               'edits there are lost when the runtime stops.')


def test_a_drive_that_will_not_mount_falls_back_to_the_clone(content, monkeypatch, capsys):
    google = types.ModuleType('google')
    google.colab = types.ModuleType('google.colab')

    def refuse(mountpoint, **kwargs):
        raise ValueError('mount failed')
    google.colab.drive = types.SimpleNamespace(mount=refuse)
    monkeypatch.setitem(sys.modules, 'google', google)
    monkeypatch.setitem(sys.modules, 'google.colab', google.colab)
    folder = colab.setup(keep_on_drive=True)
    assert folder == content / colab.CLONE
    out = capsys.readouterr()
    assert out.err == '' and len(out.out.splitlines()) == 1
    assert 'Google Drive did not mount: ValueError: mount failed' in out.out
    assert 'edits there are lost when the runtime stops' in out.out
