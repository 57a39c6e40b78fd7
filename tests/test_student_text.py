"""Student text is data (autograder/text.py, issue 20): what a student controls
(names of files, folders and zip members, ids, the messages and output of
their code) never crashes the trusted side, never reaches a terminal as
control characters, a spreadsheet as a formula or the file system as one of
the class's own files.

The fuzz tests feed a few hundred hostile strings and byte strings
(tests/hostile_text.py) to the trusted-side functions in-process, composed as
`grade` and `grade-all` compose them; the real commands run end to end in
tests/test_grade_all.py (a class with hostile students) and
tests/test_grade_cli.py (a module whose messages and output are hostile).
"""
import csv
import io
import json
import os
import sys
import zipfile

import pytest

from autograder import report, text
from autograder.cli import format_table
from autograder.harness import failure_message, score
from autograder.integrations import grade_all as ga
from autograder.isolation import intake
from autograder.isolation.student import StudentError
from autograder.isolation.submission import SubmissionError, read_zip
from autograder.results import check_results, write_json_atomic, write_text_atomic
from autograder.rubric import load_rubric, student_modules
from hostile_text import UTF8_FLAG, names, raw_zip, strings

RUBRIC = load_rubric()
MODULES = student_modules()
STRINGS = strings(300)
NAMES = names(300)


def strict_utf8():
    """A text stream that fails on anything UTF-8 cannot encode (a lone surrogate)."""
    return io.TextIOWrapper(io.BytesIO(), encoding='utf-8', errors='strict')


# ------------------------------------------------------------ the module

def test_clean_keeps_text_and_escapes_everything_else():
    assert text.clean('Zoë: 中文 ✓ {x} <a>\n\tnext') == 'Zoë: 中文 ✓ {x} <a>\n\tnext'
    assert text.clean('\ud800\x1b[2J\u202eevil\x00') == '\\ud800\\x1b[2J\\u202eevil\\x00'
    assert text.clean(b'bytes \xff') == 'bytes \\xff'
    assert text.line('two\nlines\r\tx') == 'two\\nlines\\r\\tx'
    assert text.is_line('ada.lovelace@uni') and not text.is_line('a\tb') and not text.is_line('')
    assert text.line('\x00' * 5000, 100) == '\\x00' * 23 + '\\x' + ' [...]'
    assert text.clean_tree({'k\ud800': ['\x1b', 1, None]}) == {'k\\ud800': ['\\x1b', 1, None]}


@pytest.mark.parametrize('cell, written', [
    ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'), ('+1', "'+1"), ('-1', "'-1"),
    ('@SUM(A1)', "'@SUM(A1)"), ('\t=1', "\\t=1"), ('\r=1', '\\r=1'), ('ada', 'ada'), ('', ''),
])
def test_csv_cells_are_never_formulas(cell, written):
    assert text.csv_cell(cell) == written


def test_student_folders_are_distinct_and_never_class_files():
    ids = ['scores.csv', 'SCORES.CSV', '%73cores.csv', '.hidden', 'a%b', 'a%25b', 'report.html',
           '中.db', 'ada', 'ada.lovelace', 'x/y']
    folders = [text.folder_name(i, ga.CLASS_FILE_SUFFIXES) for i in ids]
    assert len(set(folders)) == len(ids)
    assert folders[-3:-1] == ['ada', 'ada.lovelace']
    for folder in folders:
        assert '/' not in folder and not folder.startswith('.')
        assert folder.startswith('%') or not folder.casefold().endswith(ga.CLASS_FILE_SUFFIXES)


# ------------------------------------------------------------ fuzz: the functions

def test_fuzz_text_gives_valid_printable_text_and_distinct_folders():
    samples = STRINGS + [os.fsdecode(n) for n in NAMES] + NAMES
    folders = {}
    for value in samples:
        cleaned, one = text.clean(value), text.line(value)
        cleaned.encode('utf-8')                        # valid Unicode: no lone surrogate
        assert one.isprintable() and text.clean(cleaned) == cleaned and text.line(one) == one
        assert all(c.isprintable() or c in '\n\t' for c in cleaned)
        assert not text.csv_cell(value).startswith(text.FORMULA_STARTS)
        folder = text.folder_name(one, ga.CLASS_FILE_SUFFIXES)
        assert folders.setdefault(folder, one) == one   # injective
        assert folder.startswith('%') or not folder.casefold().endswith(ga.CLASS_FILE_SUFFIXES)


def test_fuzz_zip_member_names_give_a_submission_or_a_one_line_refusal(tmp_path):
    """Hostile member names, flagged UTF-8 or not: read_zip returns or refuses
    with one clean line, never raises anything else."""
    good = (b'scratchnn/layers.py', b'L = 1\n', 0)
    outcomes = {'read': 0, 'refused': 0}
    for i, name in enumerate(NAMES):
        for flags in (0, UTF8_FLAG):
            path = tmp_path / f'{i}-{flags}.zip'
            path.write_bytes(raw_zip([good, (b'nn/' + name, b'x', flags), (name, b'y', flags)]))
            try:
                sub = read_zip(path, MODULES)
            except SubmissionError as e:
                assert text.is_line(str(e)) and len(str(e)) <= text.REASON_CHARS, str(e)
                outcomes['refused'] += 1
                continue
            outcomes['read'] += 1
            assert sub.sources == {'layers': b'L = 1\n'}
            assert all(text.is_line(m) for m in [*sub.notes, *sub.problems.values()])
    assert outcomes['read'] and outcomes['refused']          # both ways were taken


def test_fuzz_messages_and_output_of_student_code_reach_every_writer(tmp_path):
    """What `grade` does with student messages and output (harness: failure
    messages, scores, the cleaned results; cli: the table, results.json; the
    feedback page), for each hostile string."""
    item = next(iter(RUBRIC))
    spec = RUBRIC[item]
    for i, message in enumerate(STRINGS):
        tests = [{'item': item, 'function': f, 'name': f, 'outcome': 'failed', 'caused_by': None,
                  'message': failure_message(StudentError('exception', message))} for f in spec.tests]
        items, entries = score(RUBRIC, tests, {}, {item})
        results = {'score': 0.0, 'max_score': float(spec.points), 'tests': entries,
                   'items': {k: {'score': float(v['score']), 'max_score': float(v['max_score'])}
                             for k, v in items.items()},
                   'sandbox': 'bubblewrap', 'output': message}
        results = text.clean_tree(results)                       # harness.grade_submission's last step
        table = format_table(results)
        print(table, file=strict_utf8())
        assert all(line.isprintable() for line in table.splitlines())
        page = report.render(results, student=text.line(message))   # ids enter as lines (intake)
        if i % 10 == 0:                 # the writers themselves (an fsync each) now and then ...
            write_json_atomic(tmp_path / 'results.json', results)
            write_text_atomic(tmp_path / 'feedback.html', page)
        json.dumps(results).encode('ascii'), page.encode('utf-8')   # ... what they do, always
        assert '<script>' not in page and '\x1b' not in page


def test_fuzz_a_class_of_hostile_names_is_scanned_graded_and_written(tmp_path):
    """grade-all's trusted side on a class folder of hostile entry names (folders
    with and without modules, zips with hostile member names, stray files) and
    hostile results from its workers: every entry is a student or ignored with
    a clean reason, and every student gets its files and its row."""
    subs, out = tmp_path / 'submitted', tmp_path / 'grades'
    subs.mkdir()
    root = os.fsencode(subs)
    module = b'L = 1\n'
    ours = {'scores.csv', '=hyperlink("x")', 'ada', 'dup'}
    hostile = [n for n in NAMES if os.fsdecode(n).casefold().removesuffix('.zip') not in ours]
    for i, name in enumerate(hostile[:200]):
        path = os.path.join(root, name)
        kind = i % 4
        if kind == 0:                                   # a folder with a module
            os.makedirs(os.path.join(path, b'scratchnn'))
            with open(os.path.join(path, b'scratchnn', b'layers.py'), 'wb') as f:
                f.write(module)
        elif kind == 1:                                 # an empty folder
            os.mkdir(path)
        elif kind == 2:                                 # a zip whose members carry the name too
            with open(path + b'.zip', 'wb') as f:
                f.write(raw_zip([(b'scratchnn/layers.py', module, 0), (b'x/' + name, b'', UTF8_FLAG)]))
        else:                                           # a stray file
            with open(path, 'wb') as f:
                f.write(b'?')
    for student in ('scores.csv', '=HYPERLINK("x")', 'ada', 'dup'):
        os.makedirs(subs / student / 'scratchnn')
        (subs / student / 'scratchnn' / 'layers.py').write_bytes(module)
    (subs / 'DUP.zip').write_bytes(raw_zip([(b'scratchnn/layers.py', module, 0)]))
    entries, ignored = intake.scan_class(subs, MODULES, exclude=[out])
    assert len(entries) + len(ignored) >= 150
    for name, reason in ignored:
        assert text.is_line(name) and text.is_line(reason)
    graded, errors = {}, {}
    fingerprint = 'f' * 64
    for n, entry in enumerate(entries):
        assert text.is_line(entry.student) and len(entry.student) <= intake.MAX_ID_CHARS
        if entry.packed is None:
            assert text.is_line(entry.problem)
            ga.record_error(errors, out, entry.student, entry.problem)
            continue
        said = STRINGS[n % len(STRINGS)]
        worker_results = {'score': 0.0, 'max_score': 100.0, 'sandbox': 'bubblewrap', 'output': said,
                          'items': {i: {'score': 0.0, 'max_score': float(s.points)} for i, s in RUBRIC.items()},
                          'tests': [{'name': said, 'number': i, 'score': 0.0, 'max_score': float(s.points),
                                     'output': said, 'caused_by': said} for i, s in RUBRIC.items()]}
        job = ga.Job(entry.student, entry.packed, intake.digest(entry.packed))
        outcome = {'results': worker_results, 'fingerprint': fingerprint, 'worker': said, 'host': said,
                   'seconds': 1.0, 'cpu_seconds': 1.0}
        results = ga.stamp(ga._accept(outcome, job, fingerprint, False, RUBRIC), job, outcome, RUBRIC)
        ga.write_student(out, entry.student, results)
        graded[entry.student] = results
    assert graded and errors
    assert {'scores.csv', '=HYPERLINK("x")', 'ada'} <= set(graded)
    assert 'both in the class folder' in errors['DUP']            # DUP.zip and dup: one student
    ga.scores_table(graded, errors, list(RUBRIC))                # must not raise
    write_text_atomic(out / ga.CSV_NAME, ga.scores_table(graded, errors, list(RUBRIC)))
    assert (out / ga.CSV_NAME).is_file()
    with open(out / ga.CSV_NAME, newline='', encoding='utf-8') as f:
        rows = list(csv.reader(f))[1:]
    assert len(rows) == len(graded) + len(errors)
    assert not any(cell.startswith(text.FORMULA_STARTS) for row in rows for cell in row)
    for student in graded:
        folder = ga.student_dir(out, student)
        check_results(json.loads((folder / 'results.json').read_text()), RUBRIC)
        assert (folder / 'feedback.html').is_file()
    for student in errors:
        assert (ga.student_dir(out, student) / ga.ERROR_NAME).is_file()
    assert len({p.name for p in out.iterdir()}) == len(graded) + len(errors) + 1   # + scores.csv


def test_fuzz_grade_refuses_hostile_zips_in_one_line(tmp_path, capsys):
    """`python -m autograder grade` (in-process) on zips of hostile names and
    nothing to grade: exit 2 and one clean line on stderr, never a traceback."""
    from autograder.cli import main
    for i, name in enumerate(NAMES[:25]):
        path = os.path.join(os.fsencode(tmp_path), b'%d-' % i + name + b'.zip')
        with open(path, 'wb') as f:
            f.write(raw_zip([(name, b'x', UTF8_FLAG if i % 2 else 0)]))
        assert main(['grade', os.fsdecode(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith('error: ') and err.count('\n') == 1 and err[:-1].isprintable(), err


def test_a_class_folder_entry_that_is_a_link_is_listed_not_followed(tmp_path):
    """A link in the class folder could make the solutions, or a classmate's
    work, this student's: listed with its reason, never read."""
    from conftest import SOLUTIONS
    subs = tmp_path / 'submitted'
    (subs / 'ada' / 'scratchnn').mkdir(parents=True)
    (subs / 'ada' / 'scratchnn' / 'layers.py').write_text('L = 1\n')
    os.symlink(SOLUTIONS, subs / 'eve')
    os.symlink(subs / 'ada', subs / 'mallory')
    entries, _ = intake.scan_class(subs, MODULES)
    found = {e.student: e for e in entries}
    assert found['ada'].packed is not None
    for student in ('eve', 'mallory'):
        assert found[student].packed is None and 'symbolic link' in found[student].problem
