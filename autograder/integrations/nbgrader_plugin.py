"""nbgrader wired to the trusted harness: `nbgrader autograde` takes every
graded cell's score from the hidden suites, never from the student's kernel.

Stock `nbgrader autograde` executes the student's notebook and scores each
graded cell by its outputs (nbgrader.utils.determine_grade): an error, or
anything on stderr, gives 0; a number as the last output gives that many
points; anything else gives full points. That trusts the student's kernel
with the grade. Here the Execute step is replaced by HarnessGrades, which
runs no notebook code at all:

1. Once per submission (cached across its notebooks) it calls
   grade_submission on the submission folder, nbgrader's
   autograded/<student>/<assignment>/. That folder holds the student's
   scratchnn modules (Autograde.exclude_overwriting keeps them) next to the
   course's own copies of the given modules (autograde overwrites those).
2. Every auto-graded cell (grade cell, code, not an answer cell) gets exactly
   two outputs: a stdout stream with the per-test messages of its rubric item
   (grade_id = item id), and an execute_result holding the item's score, which
   determine_grade reads as partial credit. Nothing is ever written to stderr.
3. Manually graded answer cells and all other cells are left as they are.

Links: autograde copies submitted/ into autograded/ following symbolic
links (shutil.copy), so a student module that is a link to the course's
solutions or another student's file would arrive in autograded/ as a plain
copy of it. Before grading, every student module in autograded/ is
replaced by what submission.read_folder reads from submitted/ without
following links (mirror_submitted_modules): a refused module becomes one
whose import fails with the reason, which costs that module's items.

The modules are graded, not the notebooks, as `grade`, grade-all and
Gradescope grade them: the items of a notebook the student did not hand in
(nbgrader gives all its cells 0) get the harness's scores in the gradebook
(record_absent_notebooks), and zip_collect's extractor gives a submission of
modules alone the released notebooks (ReleasedNotebooksExtractor), without
which nbgrader would skip it.

A graded cell with no item in the results, or an item whose points differ
from the cell's, stops the submission with an error instead of recording a
grade: nbgrader gives full points to a graded cell with no outputs, so a
silent skip would be a wrong grade.

ClearHiddenTests is added to generate_feedback (FEEDBACK_PREPROCESSORS):
hidden-test regions never reach a feedback page (nbgrader issue #917), should
any notebook ever hold one. LostPointsFirst puts a summary at the top of each
notebook's feedback page: its items that lost points first, each with its
reason and a link to its graded cell (and to the item that caused it), the
items with full marks folded.

nbgrader_config.py at the repository root installs all this.
"""
import hashlib
import json
import math
import shutil
from pathlib import Path

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor, Preprocessor
from nbformat.v4 import new_markdown_cell, new_output
from traitlets import Bool, Integer, List, Unicode

from nbgrader import utils
from nbgrader.plugins import ExtractorPlugin
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests,
                                    Execute, GetGrades, IgnorePattern, LimitOutput,
                                    SaveAutoGrades)

from ..course import COURSE
from ..isolation.submission import PACKAGE, read_folder
from ..results import RESULTS_NAME, check_results, write_json_atomic
from ..rubric import load_rubric, student_modules
from ..report import first_failure, group_tests, lost_points_html, not_written, reason


DEFAULT_GRADER = 'autograder.harness:grade_submission'
ASSIGNMENT = COURSE.assignment


class ResultsDoNotFit(Exception):
    """The harness's results do not fit the notebook: no grade is recorded."""


def load_grader(spec):
    """The function named by 'package.module:function' (a callable passes through)."""
    import importlib
    if callable(spec):
        return spec
    module_name, sep, function_name = str(spec).partition(':')
    if not sep or not module_name or not function_name:
        raise ValueError(f"grader must be 'module:function', got {spec!r}")
    return getattr(importlib.import_module(module_name), function_name)


def package_fingerprint(folder):
    """sha256 of every file's relative path and bytes under folder/scratchnn:
    it changes whenever the code to grade changes."""
    digest = hashlib.sha256()
    package = Path(folder) / 'scratchnn'
    for path in sorted(package.rglob('*')):
        if path.is_file() and '__pycache__' not in path.parts:
            digest.update(str(path.relative_to(package)).encode() + b'\0')
            digest.update(path.read_bytes() + b'\0')
    return digest.hexdigest()


def mirror_submitted_modules(submitted, autograded, modules=None):
    """Make autograded/scratchnn's student modules what submitted/ really holds,
    read without following links; a refused module raises ImportError saying why.
    modules: the student modules (None: those the rubric grades).
    Returns {module: reason} of the refused ones."""
    modules = student_modules() if modules is None else modules
    sub = read_folder(submitted, modules)
    package = Path(autograded) / PACKAGE
    refused = {}
    for module in modules:
        target = package / f'{module}.py'
        source = sub.source(module)
        if source is None and module in sub.problems:
            refused[module] = sub.problems[module]
            source = f'raise ImportError({sub.problems[module]!r})\n'.encode()
        if source is None:
            continue   # missing in both: the grader says so
        if target.is_symlink() or target.exists():
            target.unlink()
        package.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source)
    return refused


def submitted_folder(config, resources):
    """submitted/<student>/<assignment> of the notebook being autograded, or None."""
    from nbgrader.coursedir import CourseDirectory
    info = resources.get('nbgrader', {})
    if 'student' not in info or 'assignment' not in info:
        return None
    coursedir = CourseDirectory(config=config)
    folder = Path(coursedir.format_path(coursedir.submitted_directory, info['student'],
                                        info['assignment']))
    return folder if folder.is_dir() else None


# The results of the last submission graded: autograde goes through a
# submission's notebooks one after the other, so one entry is enough.
_last = {}


def submission_results(folder, grade, **options):
    """grade(folder, **options), once per submission folder and package content."""
    key = (str(Path(folder).resolve()), package_fingerprint(folder), repr(sorted(options.items())))
    if key not in _last:
        _last.clear()
        results = grade(Path(folder).resolve(), **options)
        try:
            # before any notebook's grades are saved: all of them or none
            check_results(results, load_rubric())
        except ValueError as e:
            raise ResultsDoNotFit(f"the harness's results are incomplete: {e}") from None
        # Kept beside the autograded submission (instructor side) for
        # feedback pages; it replaces any results.json the student planted.
        write_json_atomic(Path(folder) / RESULTS_NAME, results)
        _last[key] = results
    return _last[key]


def is_autograded(cell):
    """A graded code cell scored by its outputs (not a hand-graded answer)."""
    return (cell.cell_type == 'code' and utils.is_grade(cell)
            and not utils.is_solution(cell) and not utils.is_task(cell))


def item_score(results, item_id, points):
    """The score of item_id, checked against the cell's points, in [0, points]."""
    items = results.get('items') or {}
    if item_id not in items:
        raise ResultsDoNotFit(f"the harness's results have no item {item_id!r} "
                           f"(items: {', '.join(sorted(items)) or 'none'})")
    score, max_score = float(items[item_id]['score']), float(items[item_id]['max_score'])
    if not math.isclose(max_score, points):
        raise ResultsDoNotFit(f"item {item_id!r} is worth {max_score:g} in the rubric "
                           f"but its graded cell is worth {points:g}")
    if not math.isfinite(score):
        raise ResultsDoNotFit(f"item {item_id!r} has score {score!r}")
    # nbgrader rejects partial credit above the cell's points
    return min(max(score, 0.0), points)


def item_messages(item_id, score, points, tests):
    """The stdout text of one graded cell: the item's score, then one line per
    test, with the failure message under each failed test; for an item not
    written yet, one line that says so instead of every test."""
    head = f"{item_id}: {score:g} / {points:g} points from the course autograder's hidden tests"
    if not_written(tests):
        return f"{head}: not written yet ({reason(first_failure(tests))})\n"
    lines = [head]
    for test in tests:
        passed = test['score'] >= test['max_score']
        # a test worth nothing was skipped (say, a CUDA-only test on a CPU machine)
        mark = 'SKIP' if test['max_score'] == 0 else 'PASS' if passed else 'FAIL'
        lines.append(f"  [{mark}] {test['name']} ({test['score']:g} / {test['max_score']:g})")
        if test.get('output') and mark != 'PASS':
            lines.extend('        ' + line for line in str(test['output']).splitlines())
    if not tests:
        lines.append('  (no test details)')
    return '\n'.join(lines) + '\n'


def cell_outputs(item_id, score, points, tests):
    """The outputs that make nbgrader's determine_grade give exactly `score`:
    a stdout stream (ignored by it) and an execute_result with the number."""
    return [new_output('stream', name='stdout', text=item_messages(item_id, score, points, tests)),
            new_output('execute_result', data={'text/plain': repr(float(score))}, execution_count=1)]


def fill_grade_cells(nb, results):
    """Write each auto-graded cell's outputs from `results`, in place."""
    tests_by_item = group_tests(results)
    for cell in nb.cells:
        if not is_autograded(cell):
            continue
        item_id = cell.metadata['nbgrader']['grade_id']
        points = float(cell.metadata['nbgrader']['points'])
        score = item_score(results, item_id, points)
        cell.outputs = cell_outputs(item_id, score, points, tests_by_item.get(item_id, []))
        cell.execution_count = 1
    return nb


def absent_notebook_items(submitted, rubric):
    """{notebook stem: [item ids]} of the rubric's notebooks that the
    submission folder `submitted` does not hold."""
    absent = {}
    for item_id, item in rubric.items():
        if not (Path(submitted) / item.notebook).is_file():
            absent.setdefault(Path(item.notebook).stem, []).append(item_id)
    return absent


def record_absent_notebooks(url, student, submitted, results):
    """Record the harness's scores of the items whose notebook the student did
    not hand in, in the gradebook at url; returns the notebook stems.

    nbgrader's autograde gives every cell of a notebook not handed in 0
    before it grades the others; this course grades the modules, not the
    notebooks, so those items get what `grade`, grade-all and Gradescope
    give them. The notebook's written answers stay 0: they were not handed in."""
    from .gradebook import open_gradebook
    absent = absent_notebook_items(submitted, load_rubric())
    if not absent:
        return []
    with open_gradebook(url) as gb:
        for notebook, item_ids in absent.items():
            for item_id in item_ids:
                grade = gb.find_grade(item_id, notebook, ASSIGNMENT, student)
                grade.auto_score = item_score(results, item_id, float(grade.max_score))
                grade.needs_manual_grade = False
        gb.db.commit()
    return sorted(absent)


class HarnessGrades(Execute):
    """Autograde's Execute step for the assignments in `assignments`: fills the
    graded cells from the trusted harness (see the module docstring); other
    assignments are executed as stock nbgrader does."""

    assignments = List(Unicode(), ['nn_from_scratch'],
                       help="Assignments graded by the harness instead of by running the notebook."
                       ).tag(config=True)
    grader = Unicode(DEFAULT_GRADER, help="The grading function, 'module:function'; called as "
                     "grader(submission_dir, device=..., workers=...) -> results dict.").tag(config=True)
    device = Unicode(None, allow_none=True, help="Device for the hidden suites (None: the "
                     "harness's choice, CUDA when present).").tag(config=True)
    workers = Integer(None, allow_none=True, help="The harness's workers: sandboxed child "
                      "processes it starts ahead of need (None: its default).").tag(config=True)

    def preprocess(self, nb, resources):
        if resources['nbgrader']['assignment'] not in self.assignments:
            return super().preprocess(nb, resources)
        folder = resources['metadata']['path']
        submitted = submitted_folder(self.config, resources)
        if submitted is not None:
            for module, why in mirror_submitted_modules(submitted, folder).items():
                self.log.warning("%s: %s refused: %s", folder, module, why)
        self.log.info("Grading %s with the course autograder", folder)
        results = submission_results(folder, load_grader(self.grader),
                                     device=self.device, workers=self.workers)
        if results.get('warning'):
            self.log.warning("%s: %s", folder, results['warning'])
        if submitted is not None:
            info = resources['nbgrader']
            for notebook in record_absent_notebooks(info['db_url'], info['student'], submitted, results):
                self.log.info("%s: %s.ipynb not handed in: its items graded from the modules",
                              info['student'], notebook)
        return fill_grade_cells(nb, results), resources


class LostPointsFirst(Preprocessor):
    """generate_feedback: a first cell on each notebook's page listing the
    notebook's items that lost points, with their reasons and links, before the
    items with full marks (folded). It reads the results.json that HarnessGrades
    saved beside the autograded notebooks; without one it adds nothing."""

    # nbconvert's preprocessors are off unless enabled: on, or it never runs
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        saved = Path(resources['metadata']['path']) / RESULTS_NAME
        if not saved.is_file():
            return nb, resources
        results = json.loads(saved.read_text())
        here = [cell.metadata['nbgrader']['grade_id'] for cell in nb.cells if is_autograded(cell)]
        if not here:
            return nb, resources
        notebooks = {item: info.notebook for item, info in load_rubric().items()}

        def href(item):  # the graded cell's anchor, on this page or on its notebook's page
            if item in here or item not in notebooks:
                return f'#{item}'
            return f"{Path(notebooks[item]).stem}.html#{item}"

        summary = new_markdown_cell(lost_points_html(results, here, href))
        summary.metadata['lost_points_first'] = True
        nb.cells.insert(0, summary)
        return nb, resources


class ReleasedNotebooksExtractor(ExtractorPlugin):
    """zip_collect's extractor: nbgrader's, then the released notebooks added,
    unanswered, to every extracted submission that holds modules but no
    notebook. nbgrader grades notebooks and skips a student without one; the
    course grades the modules, and `grade`, grade-all and Gradescope accept
    them alone: with the released notebooks beside them, `nbgrader autograde`
    grades the same modules the same way (the written answers: 0, not handed in)."""

    def extract(self, archive_path, extracted_path):
        super().extract(archive_path, extracted_path)
        coursedir = self.parent.coursedir
        release = Path(coursedir.format_path(coursedir.release_directory, '.', coursedir.assignment_id))
        for submission in sorted(Path(extracted_path).iterdir()):
            if submission.is_dir() and modules_without_notebooks(submission):
                self.log.info("%s: modules but no notebook: the released notebooks stand in",
                              submission.name)
                for notebook in sorted(release.glob('*.ipynb')):
                    shutil.copy(notebook, submission / notebook.name)


def modules_without_notebooks(folder):
    """Whether folder (and its subfolders) holds .py files and no notebook."""
    files = [p for p in Path(folder).rglob('*') if p.is_file()]
    return any(p.suffix == '.py' for p in files) and not any(p.suffix == '.ipynb' for p in files)


class ClearHiddenTestsQuietly(ClearHiddenTests):
    """nbgrader's ClearHiddenTests, which takes nbconvert's display_data_priority
    setting as GetGrades does: stock ClearHiddenTests redefines it as no config
    option, so every generate_feedback warned that the option is not recognized."""
    display_data_priority = List(GetGrades.class_traits()['display_data_priority'].default_value,
                                 config=True)


# Autograde's stock autograde_preprocessors with Execute replaced.
AUTOGRADE_PREPROCESSORS = [HarnessGrades, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
                           SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
# GenerateFeedback's stock preprocessors with hidden-test regions removed, and
# the notebook's lost points first.
FEEDBACK_PREPROCESSORS = [ClearHiddenTestsQuietly, GetGrades, LostPointsFirst, CSSHTMLHeaderPreprocessor]
