"""A stand-in for `python -m autograder grade` on the workers: grade-all's
mechanics (retries, resumes, refusals, merges) tested in milliseconds.

    python tests/fake_grade.py FOLDER --json OUT [--quiet] [--sandbox S] [--items a,b]

It reads FOLDER/scratchnn/layers.py, which the tests write as plain
assignments (no code runs):
    STUDENT = 'ada'          who this is (logged)
    LOG = '/tmp/.../calls'   where each call appends "student items pid trim", trim being
                             its MALLOC_TRIM_THRESHOLD_ (- when unset)
    FRACTION = 0.5           every item scores points * FRACTION ...
    SCORES = '/tmp/.../x'    ... or FRACTION read from this file (a 'suite' the test changes)
    MODE = 'crash'           exit 2 (a grade that fails) | 'kill-worker-once' (SIGKILL the
                             Dask worker that runs it, the first time) | 'unsandboxed'
                             (say it ran without bubblewrap) | 'sleep' (SLEEP seconds first)
    SAID = '...'             what the student's code said: every test's output and the
                             results' output (lone surrogates, control characters ...)
"""
import argparse
import ast
import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from autograder.rubric import load_rubric  # noqa: E402


def settings(folder):
    tree = ast.parse((Path(folder) / 'scratchnn' / 'layers.py').read_text())
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
            if isinstance(node, ast.Assign)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('folder')
    parser.add_argument('--json', required=True)
    parser.add_argument('--quiet', action='store_true')
    parser.add_argument('--sandbox', default='auto')
    parser.add_argument('--items', default=None)
    parser.add_argument('--device', default=None)
    args = parser.parse_args()
    s = settings(args.folder)
    with open(s['LOG'], 'a') as log:
        log.write(f"{s['STUDENT']} {args.items or 'all'} {os.getpid()} "
                  f"{os.environ.get('MALLOC_TRIM_THRESHOLD_', '-')}\n")
    mode = s.get('MODE', '')
    if mode == 'crash':
        print('error: could not grade: the harness fell over', file=sys.stderr)
        return 2
    if mode == 'kill-worker-once':
        marker = Path(s['LOG'] + '.killed')
        if not marker.exists():
            marker.write_text('')
            os.kill(os.getppid(), signal.SIGKILL)   # the Dask worker that started us
            time.sleep(60)
    if mode == 'sleep':
        time.sleep(float(s.get('SLEEP', 1)))
    fraction = float(Path(s['SCORES']).read_text()) if 'SCORES' in s else float(s['FRACTION'])
    rubric = load_rubric()
    wanted = args.items.split(',') if args.items else list(rubric)
    items = {item: {'score': float(rubric[item].points) * fraction,
                    'max_score': float(rubric[item].points)}
             for item in wanted}
    said = s.get('SAID', '' if fraction == 1 else 'off')
    tests = [{'name': f'{item} works', 'score': v['score'], 'max_score': v['max_score'],
              'output': said, 'number': item} for item, v in items.items()]
    sandbox = 'none (WARNING: no sandbox)' if mode == 'unsandboxed' else 'bubblewrap'
    results = {'score': sum(v['score'] for v in items.values()),
               'max_score': sum(v['max_score'] for v in items.values()),
               'tests': tests, 'items': items, 'sandbox': sandbox, 'output': s.get('SAID', '')}
    Path(args.json).write_text(json.dumps(results))
    return 0


if __name__ == '__main__':
    sys.exit(main())
