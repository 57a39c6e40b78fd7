"""Google Colab: where your assignment folder and your notebooks live in Colab.

The setup cell of every notebook clones the course into `course/` (Colab
starts in /content), then calls setup(). A Colab runtime forgets its files when
it stops, so by default setup() keeps your copy of the assignment on Google
Drive: it mounts the Drive, copies the course's folder to
MyDrive/nn_from_scratch the first time, and works from there from then on.

Every later setup brings that copy up to the course's current files: a file of
the course you never changed is replaced by its newest version (a fix reaches
you), a file you changed is yours and left alone, and your modules
(scratchnn/layers.py, dropout.py, normalization.py, init.py, optim.py) are
never overwritten. To know which files you changed, the copy records the hash
of every course file as it was copied, in MyDrive/nn_from_scratch/.course_files.json;
a copy made before that record existed is compared with every version the
course ever published (the clone's git history).

A notebook opened from a Colab link lives in the browser until File > Save a
copy in Drive puts it in MyDrive/Colab Notebooks (as "Copy of <name>"):
edited_copies() finds every saved copy of a notebook that differs from the
course's, and the hand-in zip (scratchnn/check.py) takes the last saved.
"""
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .check import STUDENT_MODULES

CLONE = 'course/nn_from_scratch'        # the assignment folder of the setup cell's clone
MOUNT = 'drive'                         # Colab mounts Google Drive at /content/drive
DRIVE_FOLDER = 'MyDrive/nn_from_scratch'
COLAB_NOTEBOOKS = 'Colab Notebooks'     # beside DRIVE_FOLDER: where "Save a copy in Drive" saves
RECORD = '.course_files.json'           # in your copy: {course file: its sha256 when copied}
# A saved copy's file name: "<name>", "Copy of <name>", "Copy of <name> (1)"...
COPY_NAME = re.compile(r'^(?:Copy of )*(?P<name>.+?)(?: \(\d+\))?\.ipynb$')
SKIPPED = ('__pycache__', '.ipynb_checkpoints')
YOUR_MODULES = frozenset(f'scratchnn/{module}.py' for module in STUDENT_MODULES)


def sha256(path):
    """The hex SHA-256 of the file at path."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_record(folder):
    """{path relative to folder: sha256 of the course's file when it was copied
    there}; empty when folder has no (readable) record."""
    try:
        return dict(json.loads((Path(folder) / RECORD).read_text()))
    except (OSError, ValueError, TypeError):
        return {}


def write_record(folder, record):
    """Write the record of folder, whole or not at all (a Drive can go away mid-write)."""
    path = Path(folder) / RECORD
    part = path.with_name(path.name + '.part')
    part.write_text(json.dumps(record, indent=1, sort_keys=True) + '\n')
    part.replace(path)


def course_files(source):
    """The paths, relative to source, of every file of the course folder source."""
    return [path.relative_to(source) for path in sorted(Path(source).rglob('*'))
            if path.is_file() and not any(part in SKIPPED for part in path.relative_to(source).parts)]


def git_blob_id(path):
    """The id git gives the content of the file at path (its blob's SHA-1)."""
    data = Path(path).read_bytes()
    return hashlib.sha1(b'blob %d\0' % len(data) + data).hexdigest()


def published_versions(source):
    """{path relative to source: the git blob ids of every version of it the
    course ever published}, from the history of the git clone that holds the
    folder source (fetched whole first if the clone is shallow); empty when git
    cannot tell."""
    git = ['git', '-C', str(Path(source).parent)]
    try:
        shallow = subprocess.run(git + ['rev-parse', '--is-shallow-repository'], capture_output=True,
                                 text=True, check=True).stdout.strip() == 'true'
        if shallow:
            subprocess.run(git + ['fetch', '--quiet', '--unshallow'], capture_output=True, check=True)
        log = subprocess.run(git + ['log', '--format=', '--raw', '--no-abbrev', '--no-renames', '--',
                                    Path(source).name], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    versions = {}
    for line in log.splitlines():   # ":100644 100644 <blob before> <blob after> M<TAB>nn_from_scratch/<path>"
        fields, _, path = line.partition('\t')
        relative = path.partition('/')[2]
        versions.setdefault(relative, set()).update(fields.split()[2:4])
    return versions


def is_yours(key, target, record, published):
    """Whether the file `key` of your copy, at target, is yours: one of your
    modules, or a file other than the course's as copied (the hash recorded
    then); where none was recorded (a copy made before records were kept), a
    file that is no version the course ever published (published(): {key:
    git blob ids}, see published_versions)."""
    if key in YOUR_MODULES:
        return True
    if key in record:
        return sha256(target) != record[key]
    return git_blob_id(target) not in published().get(key, ())


def update_copy(source, dest):
    """Bring dest, your copy of the course folder source, up to source; returns
    (files added, files updated).

    A file dest lacks is copied. A file of dest that differs from source's is
    replaced by it unless it is yours (is_yours): your modules and the files you
    changed are never overwritten. The record of dest then holds the hash of
    every course file copied, or found equal to the course's."""
    record = read_record(dest)
    published = functools.cache(lambda: published_versions(source))   # git only when needed
    added = updated = 0
    for relative in course_files(source):
        key, new, target = relative.as_posix(), Path(source) / relative, Path(dest) / relative
        latest = sha256(new)
        current = sha256(target) if target.is_file() else None
        if current == latest:
            record[key] = latest
        elif current is None or not is_yours(key, target, record, published):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(new, target)
            record[key] = latest
            if current is None:
                added += 1
            else:
                updated += 1
    write_record(dest, record)
    return added, updated


def copy_of(filename):
    """The notebook name of which filename, in Colab Notebooks, is a saved copy
    (COPY_NAME); any other file name unchanged."""
    return COPY_NAME.sub(r'\g<name>.ipynb', filename)


def notebook_copies(folder, name):
    """Every saved copy of the notebook `name` of the assignment folder: its own
    folder/name, and the copies of it in Colab Notebooks beside the folder."""
    saved = Path(folder).parent / COLAB_NOTEBOOKS
    copies = [Path(folder) / name] + sorted(p for p in saved.glob('*.ipynb') if copy_of(p.name) == name)
    return [path for path in copies if path.is_file()]


def edited_copies(folder, name):
    """The copies of notebook `name` (notebook_copies) that differ from the
    course's as copied into folder: every copy when folder has no record of it."""
    released = read_record(folder).get(name)
    return [path for path in notebook_copies(folder, name) if sha256(path) != released]


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


def what_changed(fresh, added, updated):
    """How setup() found your Drive copy, in a few words."""
    if fresh:
        return 'copied from the course just now'
    news = ['your copy']
    if added:
        news.append(f'{added} new course files added')
    if updated:
        news.append(f'{updated} course files updated')
    return ', '.join(news)


def setup(keep_on_drive=True, clone=CLONE):
    """Choose and enter the working folder; print one line saying which. Returns it.

    keep_on_drive=True: Google Drive's MyDrive/nn_from_scratch, copied from the
    clone the first time and brought up to it every time (update_copy), so your
    edits survive the runtime and the course's fixes reach you. False, or a
    Drive that will not mount: the clone itself, lost when the runtime stops.
    """
    clone = Path(clone).resolve()
    folder, note = clone, 'KEEP_ON_DRIVE = False'
    if keep_on_drive:
        mountpoint = Path.cwd() / MOUNT
        failure = mount_drive(mountpoint)
        if failure is None:
            folder = mountpoint / DRIVE_FOLDER
            fresh = not (folder / 'scratchnn').is_dir()
            what = what_changed(fresh, *update_copy(clone, folder))
            use_folder(folder, clone)
            print(f'Working in Google Drive, {DRIVE_FOLDER} ({what}): your edits there survive the runtime.')
            return folder
        note = f'Google Drive did not mount: {failure}'
    use_folder(folder, clone)
    print(f'Working in {folder} ({note}): edits there are lost when the runtime stops.')
    return folder
