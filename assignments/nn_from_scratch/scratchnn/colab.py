"""Google Colab: where your assignment folder lives in a Colab runtime.

The setup cell of every notebook clones the course into `course/` (Colab
starts in /content), then calls setup(). A Colab runtime forgets its files when
it stops, so by default setup() keeps your copy of the assignment on Google
Drive: it mounts the Drive, copies the course's folder to
MyDrive/nn_from_scratch the first time (never overwriting a file you have
there), and works from there from then on.
"""
import os
import shutil
import sys
from pathlib import Path

CLONE = 'course/nn_from_scratch'        # the assignment folder of the setup cell's clone
MOUNT = 'drive'                         # Colab mounts Google Drive at /content/drive
DRIVE_FOLDER = 'MyDrive/nn_from_scratch'
SKIPPED = ('__pycache__', '.ipynb_checkpoints')


def copy_missing(source, dest):
    """Copy every file of source that dest lacks into dest; returns how many.
    Files already in dest (your work) are never touched."""
    copied = 0
    for path in sorted(Path(source).rglob('*')):
        relative = path.relative_to(source)
        if not path.is_file() or any(part in SKIPPED for part in relative.parts):
            continue
        target = Path(dest) / relative
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            copied += 1
    return copied


def mount_drive(mountpoint):
    """Mount Google Drive at mountpoint (Colab asks you to allow it). Returns
    None, or why it could not."""
    try:
        from google.colab import drive
        drive.mount(str(mountpoint))
    except Exception as e:  # refused, timed out, or no Drive here
        return ' '.join(f'{type(e).__name__}: {e}'.split())
    return None


def use_folder(folder, clone):
    """Work in folder: make it the current folder, first on sys.path, and forget
    the scratchnn imported from the clone, so that `import scratchnn` loads yours."""
    os.chdir(folder)
    sys.path[:] = [p for p in sys.path if Path(p or '.').resolve() != Path(clone).resolve()]
    sys.path.insert(0, str(folder))
    for name in [m for m in sys.modules if m == 'scratchnn' or m.startswith('scratchnn.')]:
        del sys.modules[name]


def setup(keep_on_drive=True, clone=CLONE):
    """Choose and enter the working folder; print one line saying which. Returns it.

    keep_on_drive=True: Google Drive's MyDrive/nn_from_scratch, copied from the
    clone the first time, so your edits survive the runtime. False, or a Drive
    that will not mount: the clone itself, lost when the runtime stops.
    """
    clone = Path(clone).resolve()
    folder, note = clone, 'KEEP_ON_DRIVE = False'
    if keep_on_drive:
        mountpoint = Path.cwd() / MOUNT
        failure = mount_drive(mountpoint)
        if failure is None:
            folder = mountpoint / DRIVE_FOLDER
            fresh = not (folder / 'scratchnn').is_dir()
            copied = copy_missing(clone, folder)
            what = ('copied from the course just now' if fresh else
                    f'your copy, {copied} new course files added' if copied else 'your copy')
            use_folder(folder, clone)
            print(f'Working in Google Drive, {DRIVE_FOLDER} ({what}): your edits there survive the runtime.')
            return folder
        note = f'Google Drive did not mount: {failure}'
    use_folder(folder, clone)
    print(f'Working in {folder} ({note}): edits there are lost when the runtime stops.')
    return folder
