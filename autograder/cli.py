"""Command line of the autograder: `python -m autograder COMMAND ...`.

    python -m autograder grade SUBMISSION_DIR [--json results.json]
    python -m autograder grade-all SUBMISSIONS_DIR [--workers N] [--out DIR]

Each command is an argparse subparser; `main` dispatches to its handler.
`grade` exits 0 whenever it produced a grade, whatever the score, and 2
when it could not grade (no scratchnn folder, broken suites or rubric, a
sandbox that fails to start).
"""
import argparse
import json
import sys
from pathlib import Path

REASON_CHARS = 70


def _short(text):
    """The first line of a failure message, cut to fit a table cell."""
    line = (text or '').strip().splitlines()[0] if (text or '').strip() else ''
    return line if len(line) <= REASON_CHARS else line[:REASON_CHARS - 3] + '...'


def format_table(results):
    """The item / points / max / reason table of a results dict, as text."""
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
    lines.append(f"{'total':<{width}}  {results['score']:>6g}  {results['max_score']:>5g}")
    return '\n'.join(lines)


def grade(args):
    """Grade one submission with the harness; print the table, write results.json."""
    from .harness import GradingError, grade_submission
    from .sandbox import SandboxError
    try:
        items = args.items.split(',') if args.items else None
        results = grade_submission(args.submission, device=args.device, workers=args.workers,
                                   items=items, sandbox='strict' if args.require_sandbox else 'auto')
    except (GradingError, SandboxError, FileNotFoundError) as e:
        print(f"error: could not grade {args.submission}: {e}", file=sys.stderr)
        return 2
    if results.get('warning'):
        print(f"\n*** {results['warning']} ***\n", file=sys.stderr)
    print(format_table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(args.json.name + '.tmp')
        tmp.write_text(json.dumps(results, indent=2) + '\n')
        tmp.replace(args.json)
        print(f"results written to {args.json}")
    return 0


def add_grade(subparsers):
    parser = subparsers.add_parser('grade', help='grade one submission with the hidden suites')
    parser.add_argument('submission', type=Path, metavar='SUBMISSION_DIR',
                        help="the student's assignment folder, holding scratchnn/")
    parser.add_argument('--json', '--out', dest='json', type=Path, default=None,
                        metavar='RESULTS_JSON', help='write the results (Gradescope schema) here')
    parser.add_argument('--device', default=None,
                        help='device for the suites (default: CUDA when present, else CPU)')
    parser.add_argument('--workers', type=int, default=None,
                        help='sandboxed processes started ahead of need (default 1)')
    parser.add_argument('--items', default=None, metavar='ID,ID,...',
                        help='grade only these rubric items (default: all)')
    parser.add_argument('--require-sandbox', action='store_true',
                        help='refuse to grade (exit 2) unless bubblewrap and a control group '
                             'both work (default: grade anyway, with a warning)')
    parser.set_defaults(handler=grade)


def add_grade_all(subparsers):
    from . import grade_all
    parser = subparsers.add_parser('grade-all', help='grade a whole class in parallel',
                                   description=grade_all.__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    grade_all.add_arguments(parser)
    parser.set_defaults(handler=grade_all.run)


def build_parser():
    parser = argparse.ArgumentParser(prog='python -m autograder')
    subparsers = parser.add_subparsers(dest='command', required=True)
    add_grade(subparsers)
    add_grade_all(subparsers)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == '__main__':
    sys.exit(main())
