"""The self-check: the public check of every graded item, and the hand-in zip.

    python -m scratchnn.check              run every public check, print a table
    python -m scratchnn.check --notebook 3 only the items of notebook 3
    python -m scratchnn.check --zip        also pack your submission into a zip

From a notebook: `from scratchnn.check import self_check; self_check()`.

The checks are those of the notebooks' graded cells (scratchnn/public_checks.py),
run on the scratchnn package next to the notebooks. They are quick and public:
necessary, not sufficient. Your grade comes from hidden tests run after you hand
in. Everything is printed to stdout; what your own code prints while a check
runs is swallowed, so that the table stays readable.

The zip takes your five modules and, for each notebook, the copy you edited:
in Colab a notebook opened from a link is saved by File > Save a copy in Drive
into MyDrive/Colab Notebooks, not into your assignment folder, so the zip looks
there too, takes the last saved of the copies that differ from the course's,
and says which it took. When a notebook has no such copy it writes no zip and
says where to save it: a blank notebook is never handed in unawares. (What
"the course's" is comes from the record the Colab setup keeps in your Drive
copy, scratchnn/colab.py; elsewhere, as in a clone of your own, every
notebook of the folder counts as yours.)
"""
import argparse
import contextlib
import io
import json
import sys
import warnings
import zipfile
from pathlib import Path

ASSIGNMENT = Path(__file__).resolve().parent.parent   # the notebooks and scratchnn/
# The modules you write: exactly what the grader takes from your submission.
STUDENT_MODULES = ('layers', 'dropout', 'normalization', 'init', 'optim')
ZIP_NAME = 'submission.zip'
REASON_CHARS = 70


def graded_items(folder=ASSIGNMENT, notebook=None):
    """[(item id, points, notebook name)] of the graded cells of the notebooks in
    folder, in order; only notebook number `notebook` when given. Without
    notebooks, every public check with unknown points."""
    from .public_checks import CHECKS
    items = []
    for path in sorted(Path(folder).glob('*.ipynb')):
        if notebook is not None and not path.name.startswith(f'{int(notebook):02d}'):
            continue
        for cell in json.loads(path.read_text())['cells']:
            meta = cell.get('metadata', {}).get('nbgrader', {})
            if cell['cell_type'] == 'code' and meta.get('grade') and meta.get('grade_id') in CHECKS:
                items.append((meta['grade_id'], meta.get('points'), path.name))
    if not items and notebook is None:
        items = [(item, None, None) for item in CHECKS]
    return items


def _first_line(text, limit=REASON_CHARS):
    line = next((line.strip() for line in str(text).splitlines() if line.strip()), '')
    return line if len(line) <= limit else line[:limit - 3] + '...'


def run_check(item):
    """(passed, reason) of the public check of `item`. Output of the code under
    check (stdout, stderr, warnings) is swallowed."""
    from .public_checks import CHECKS
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            CHECKS[item]()
        except NotImplementedError as e:
            return False, 'not implemented yet: ' + _first_line(str(e).replace('Implement ', ''))
        except AssertionError as e:
            return False, _first_line(e) or 'a check failed (no message)'
        except Exception as e:  # a crash in the code under check is that item's failure
            return False, _first_line(f'{type(e).__name__}: {e}')
    return True, ''


def format_table(rows):
    """The item / points / max / reason table (as `python -m autograder grade`
    prints it) of rows [(item, points, max or None, reason)], with a total."""
    width = max([len('item'), len('total')] + [len(item) for item, *_ in rows])
    fmt = lambda value: '?' if value is None else f'{value:g}'
    lines = [f"{'item':<{width}}  {'points':>6}  {'max':>5}  reason",
             f"{'-' * width}  {'-' * 6}  {'-' * 5}  {'-' * 6}"]
    for item, points, max_points, reason in rows:
        lines.append(f"{item:<{width}}  {fmt(points):>6}  {fmt(max_points):>5}  {reason}".rstrip())
    if all(max_points is not None for _, _, max_points, _ in rows):
        lines.append(f"{'total':<{width}}  {sum(r[1] for r in rows):>6g}  {sum(r[2] for r in rows):>5g}")
    return '\n'.join(lines)


class NotebooksNotSaved(Exception):
    """A notebook has no copy you edited, so the zip would hand in a blank one:
    the message says, in one line, which and where to save them."""


def shown(path, folder=ASSIGNMENT):
    """path as the student knows it: from the folder above the assignment
    folder's (in Colab: MyDrive/...)."""
    return Path(path).relative_to(Path(folder).parent.parent).as_posix()


def notebook_names(folder=ASSIGNMENT):
    """The assignment's notebooks: those in folder, and those copied there from
    the course (its record, scratchnn/colab.py) even if since removed."""
    from .colab import read_record
    return sorted({path.name for path in Path(folder).glob('*.ipynb')} |
                  {name for name in read_record(folder) if name.endswith('.ipynb') and '/' not in name})


def notebooks_to_pack(folder=ASSIGNMENT):
    """{notebook: (the copy to pack, how many edited copies there were)}: of the
    notebook's copies that differ from the course's (colab.edited_copies: in
    folder, and in Colab Notebooks beside it), the last saved. Raises
    NotebooksNotSaved when a notebook has none."""
    from .colab import COLAB_NOTEBOOKS, edited_copies
    folder = Path(folder)
    chosen, blank = {}, []
    for name in notebook_names(folder):
        edited = edited_copies(folder, name)
        if edited:
            chosen[name] = (max(edited, key=lambda path: path.stat().st_mtime), len(edited))
        else:
            blank.append(name)
    if blank:
        raise NotebooksNotSaved(
            f"No zip written: {', '.join(blank)} {'is' if len(blank) == 1 else 'are'} as the course gave "
            f"{'it' if len(blank) == 1 else 'them'} in {shown(folder, folder)}, and "
            f"{shown(folder.parent / COLAB_NOTEBOOKS, folder)} has no edited copy: save your work "
            "(in Colab: File > Save a copy in Drive), then run this again.")
    return chosen


def choice_line(name, path, edited, folder=ASSIGNMENT):
    """One line saying which copy of notebook `name` the zip took, or None when
    there was no choice (its own file, the only edited copy)."""
    if path == Path(folder) / name and edited == 1:
        return None
    which = 'your one edited copy' if edited == 1 else f'the last saved of your {edited} edited copies'
    return f'{name}: packed {shown(path, folder)}, {which}'


def write_zip(folder=ASSIGNMENT, dest=None):
    """Pack what the grader takes into dest (default folder/submission.zip): the
    student modules scratchnn/<module>.py and, under its own name, the copy of
    each notebook that notebooks_to_pack chose. Returns (dest, names packed,
    modules missing, {notebook: (copy packed, edited copies)}). Raises
    NotebooksNotSaved, writing nothing, when a notebook was never saved."""
    folder = Path(folder)
    dest = Path(dest) if dest is not None else folder / ZIP_NAME
    notebooks = notebooks_to_pack(folder)
    modules = [folder / 'scratchnn' / f'{module}.py' for module in STUDENT_MODULES]
    missing = [f.relative_to(folder).as_posix() for f in modules if not f.is_file()]
    files = [(f, f.relative_to(folder).as_posix()) for f in modules if f.is_file()] + \
        [(path, name) for name, (path, _) in notebooks.items()]
    tmp = dest.with_name(dest.name + '.tmp')
    with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_DEFLATED) as archive:
        for path, name in files:
            archive.write(path, name)
    tmp.replace(dest)
    return dest, [name for _, name in files], missing, notebooks


def check_rows(folder=ASSIGNMENT, notebook=None):
    """[(item, points, max, reason)]: the public check of every graded item (of
    notebook number `notebook`, else all); points and max are None when the
    notebooks are not there to tell them."""
    rows = []
    for item, max_points, _ in graded_items(folder, notebook):
        passed, reason = run_check(item)
        if max_points is None:
            rows.append((item, None, None, reason or 'passed'))
        else:
            rows.append((item, max_points if passed else 0, max_points, reason))
    return rows


def print_checks(notebook=None, folder=ASSIGNMENT):
    """Run the public checks (of notebook number `notebook`, else all) and print their table."""
    scope = f'notebook {notebook}' if notebook is not None else 'every notebook'
    print(f'Public checks of {scope}, on {Path(folder) / "scratchnn"}')
    print(format_table(check_rows(folder, notebook)))
    print('Public checks only: hidden tests decide your grade, and the inline questions '
          'are graded by hand.')


def self_check(notebook=None, zip=False, folder=ASSIGNMENT):
    """The notebooks' self-check: print_checks, and with zip=True also hand_in.
    Returns nothing, so that a notebook cell shows only what it prints."""
    print_checks(notebook, folder)
    if zip:
        hand_in(folder)


def hand_in(folder=ASSIGNMENT):
    """Write the submission zip and say what it holds; returns whether it was written."""
    try:
        dest, names, missing, notebooks = write_zip(folder)
    except NotebooksNotSaved as e:
        print(e)
        return False
    for name, (path, edited) in notebooks.items():
        line = choice_line(name, path, edited, folder)
        if line:
            print(line)
    print(f'Submission written to {dest} ({len(names) - len(notebooks)} modules, {len(notebooks)} notebooks; '
          'save your notebooks first: the zip takes them as they are on disk).')
    if missing:
        print(f"Missing from the submission: {', '.join(missing)}")
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m scratchnn.check', description=__doc__.split('\n')[0])
    parser.add_argument('--notebook', type=int, default=None, metavar='N',
                        help='only the items of notebook N (default: all)')
    parser.add_argument('--zip', action='store_true', help=f'also write {ZIP_NAME} for handing in')
    args = parser.parse_args(argv)
    print_checks(args.notebook)
    return 1 if args.zip and not hand_in() else 0


if __name__ == '__main__':
    sys.exit(main())
