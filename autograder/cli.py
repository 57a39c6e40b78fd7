"""Command line of the autograder: `python -m autograder COMMAND ...`.

    python -m autograder grade SUBMISSION [--json results.json]
    python -m autograder grade-all SUBMISSIONS_DIR [--workers N | --scheduler ADDRESS]
    python -m autograder report GRADES [--submissions DIR] [--threshold T]
    python -m autograder check-workers --scheduler ADDRESS
    python -m autograder gradescope-zip OUT.zip
    python -m autograder rubric [--check]

Each command is an argparse subparser; `main` dispatches to its handler.
`grade` exits 0 whenever it produced a grade, whatever the score, and 2
when it could not grade (nothing to grade at that path, broken suites or
rubric, a sandbox that fails to start), with a one-line reason.
"""
import argparse
import os
import sys
from pathlib import Path

from . import text


def _short(message):
    """The first line of a failure message, whole (a terminal wraps it; a file
    keeps it), on one line with its controls escaped (text.line)."""
    first = (message or '').strip().splitlines()[0] if (message or '').strip() else ''
    return text.line(first)


def format_table(results):
    """The item / points / max / reason table of a results dict, as text; for a
    whole grade, then the total: the autograded points and the written
    questions' (report.totals_text)."""
    from .report import totals_text
    reasons = {}
    for test in results['tests']:
        if test['score'] < test['max_score'] and test['number'] not in reasons:
            reasons[test['number']] = _short(test['output'])
    width = max([len('item')] + [len(item) for item in results['items']])
    lines = [f"{'item':<{width}}  {'points':>6}  {'max':>5}  reason",
             f"{'-' * width}  {'-' * 6}  {'-' * 5}  {'-' * 6}"]
    for item, points in results['items'].items():
        lines.append(f"{item:<{width}}  {points['score']:>6g}  {points['max_score']:>5g}  "
                     f"{reasons.get(item, '')}".rstrip())
    written = bool(results.get('written'))   # absent when only some items were graded
    lines.append(f"{'autograded' if written else 'total':<{width}}  {results['score']:>6g}  "
                 f"{results['max_score']:>5g}")
    if written:
        lines.append(totals_text(results))
    return '\n'.join(lines)


def grade(args):
    """Grade one submission with the harness; print the table, write results.json."""
    from .results import write_json_atomic
    from .harness import GradingError, grade_submission
    from .isolation.intake import NotGradable, resolve_one
    from .rubric import RubricError, student_modules
    from .isolation.sandbox import SandboxError
    where = text.line(args.submission)      # a path may hold a student's file name
    try:
        submission = resolve_one(args.submission, student_modules())
    except (NotGradable, RubricError) as e:
        print(f"error: could not grade {where}: {e}", file=sys.stderr)
        return 2
    if not args.quiet:
        # the harness's pytest run shows a bar of the hidden tests (autograder/progress.py)
        os.environ['PYTEST_PLUGINS'] = 'autograder.progress'
        print(f"grading {text.line(submission)} ...", file=sys.stderr, flush=True)
    try:
        items = args.items.split(',') if args.items else None
        results = grade_submission(submission, device=args.device, workers=args.workers,
                                   items=items, sandbox=args.sandbox)
    except (GradingError, SandboxError, FileNotFoundError) as e:
        print(f"error: could not grade {where}: {text.clean(e)}", file=sys.stderr)
        return 2
    if results.get('warning'):
        print(f"\n*** {results['warning']} ***\n", file=sys.stderr)
    if args.json:
        write_json_atomic(args.json, results)     # the grade first, then what shows it
    if not args.quiet:
        print(format_table(results))
        if args.json:
            print(f"results written to {args.json}")
    return 0


def add_grade(subparsers):
    parser = subparsers.add_parser('grade', help='grade one submission with the hidden suites')
    parser.add_argument('submission', type=Path, metavar='SUBMISSION',
                        help="the student's assignment folder (holding scratchnn/, or the "
                             "modules themselves) or a .zip of it")
    parser.add_argument('--json', '--out', dest='json', type=Path, default=None,
                        metavar='RESULTS_JSON', help='write the results (Gradescope schema) here')
    parser.add_argument('--device', default=None,
                        help='device for the suites (default: CUDA when present, else CPU)')
    parser.add_argument('--workers', type=int, default=None,
                        help='sandboxed processes started ahead of need (default 1)')
    parser.add_argument('--items', default=None, metavar='ID,ID,...',
                        help='grade only these rubric items (default: all)')
    parser.add_argument('--sandbox', choices=['auto', 'bwrap', 'strict'], default='auto',
                        help='bwrap: refuse to grade (exit 2) without a working bubblewrap sandbox; '
                             'strict: refuse without both bubblewrap and a control group; '
                             'auto (default): fall back to process limits, with a warning')
    parser.add_argument('--quiet', action='store_true',
                        help='no progress bar and no table (errors still go to stderr)')
    parser.set_defaults(handler=grade)


def add_grade_all(subparsers):
    from .integrations import grade_all
    parser = subparsers.add_parser('grade-all', help='grade a whole class in parallel',
                                   description=grade_all.__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    grade_all.add_arguments(parser)
    parser.set_defaults(handler=grade_all.run)


def class_page(args):
    """Rebuild GRADES/class.html from the results there (and the submitted code)."""
    from .class_report import rebuild
    if not args.grades.is_dir():
        print(f"error: {args.grades} is not a folder of grades (grade-all's output)", file=sys.stderr)
        return 2
    path = rebuild(args.grades, args.submissions, args.threshold)
    print(f"class report written to {path}")
    return 0


def fraction(value):
    """A number from 0 to 1 (an argparse type): a threshold outside that range
    would list every pair or none, silently."""
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is None or not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number from 0 to 1")
    return number


def add_report(subparsers):
    from .similarity import DEFAULT_THRESHOLD
    parser = subparsers.add_parser(
        'report', help="rebuild the class page (GRADES/class.html) from grade-all's results")
    parser.add_argument('grades', type=Path, metavar='GRADES', help="grade-all's output folder")
    parser.add_argument('--submissions', type=Path, default=None, metavar='DIR',
                        help='the class folder that was graded, for the similar submissions '
                             '(default: the `submitted` folder beside GRADES, when there is one)')
    parser.add_argument('--threshold', type=fraction, default=DEFAULT_THRESHOLD, metavar='T',
                        help='list the pairs of students whose code similarity is at least T, '
                             f'between 0 and 1 (default {DEFAULT_THRESHOLD})')
    parser.set_defaults(handler=class_page)


def rubric(args):
    """Write autograder/rubric.toml from the suites' marks and the solution
    notebooks (or, with --check, say whether the committed one is current)."""
    from .rubric import REGENERATE, RUBRIC, RubricError, build_rubric, to_toml
    try:
        text = to_toml(build_rubric())
    except RubricError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    current = RUBRIC.read_text() if RUBRIC.exists() else None
    if args.check:
        if current != text:
            print(f"{RUBRIC} is stale: run `{REGENERATE}`", file=sys.stderr)
            return 1
        print(f"{RUBRIC} is current")
        return 0
    if current != text:
        RUBRIC.write_text(text)
    print(f"{RUBRIC} {'written' if current != text else 'unchanged'}")
    return 0


def add_rubric(subparsers):
    parser = subparsers.add_parser(
        'rubric', help="generate rubric.toml from the hidden suites' item marks and the "
                       "solution notebooks' graded cells")
    parser.add_argument('--check', action='store_true',
                        help='write nothing; exit 1 when the committed rubric.toml is stale')
    parser.set_defaults(handler=rubric)


def build_parser():
    from .integrations.cluster import add_check_workers
    from .integrations.gradescope import add_gradescope_zip
    parser = argparse.ArgumentParser(prog='python -m autograder')
    subparsers = parser.add_subparsers(dest='command', required=True)
    add_grade(subparsers)
    add_grade_all(subparsers)
    add_check_workers(subparsers)
    add_gradescope_zip(subparsers)
    add_report(subparsers)
    add_rubric(subparsers)
    return parser


def main(argv=None):
    # Student text is clean (autograder/text.py), but a terminal or pipe whose
    # encoding is not UTF-8 (LANG=C elsewhere, cp1252) cannot show every letter.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, 'reconfigure'):
            stream.reconfigure(errors='backslashreplace')
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == '__main__':
    sys.exit(main())
