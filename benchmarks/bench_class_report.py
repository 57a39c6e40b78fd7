"""How long the class page (autograder/class_report.py) takes to build, and how big it is.

    python benchmarks/bench_class_report.py [--students 200] [--copies 3] [--seed 0]

A synthetic class, nothing graded: for every student, results.json-like
results (each item's tests from the rubric, scores drawn at random, failure
messages of the grader's kinds with varying numbers, a few time-outs and rule
violations, two students not graded) and the five modules of the release with
every stub replaced by code of its own (random statements); --copies pairs
are near copies (one student's code with its variables renamed). It prints
the time of each part (similarity: written code, fingerprints, every pair;
the page: histograms and HTML), the page's size, and whether the planted
pairs are the top pairs. The target: a class of 200 in seconds, a page of a
few MB at most.
"""
import argparse
import random
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from autograder import class_report, similarity  # noqa: E402
from autograder.rubric import load_rubric, student_modules  # noqa: E402
from coursekit.submissions import rename_locals  # noqa: E402

STUB = re.compile(r'^( *)# YOUR CODE HERE\n\1raise NotImplementedError\(.*\)\n', re.M)
MESSAGES = ['relative error {x:.2e} (allowed 1e-09) in out[{i}, {j}]',
            'NaN or inf in loss for scores of {i}00',
            'dx differs from the numeric gradient by {x:.1e} at [{i}, {j}]',
            'layers.Linear.forward: not implemented (Implement Linear.forward in scratchnn/layers.py)',
            'optim.sgd(...) did not finish within 20 s (an infinite loop?)',
            'Rule violation: torch.nn.functional.relu at line {i}. scratchnn must be written by hand; '
            'this item gets 0 points.']


def random_code(rng, indent):
    """A few statements of arithmetic on tensors, with numbers of their own."""
    lines = []
    for _ in range(rng.randint(2, 6)):
        name, a, b = (rng.choice('abcdefghxyzw') + str(rng.randint(0, 9)) for _ in range(3))
        fn = rng.choice(['torch.exp', 'torch.log', 'torch.clamp', 'torch.sqrt', 'torch.tanh'])
        lines.append(f"{name} = {fn}({a} {rng.choice('+-*/')} {rng.randint(0, 999)}) "
                     f"{rng.choice('+-*/')} {b}[{rng.randint(0, 9)}:{rng.randint(10, 99)}]")
    lines.append(f"out = {rng.choice(['a', 'b', 'x'])}{rng.randint(0, 9)} * {rng.random():.3f}")
    return ''.join(f'{indent}{line}\n' for line in lines)


def synthetic_sources(rng, students, copies, release):
    sources = {}
    for student in students:
        sources[student] = {m: STUB.sub(lambda s: random_code(rng, s.group(1)), code)
                            for m, code in release.items()}
    planted = []
    for k in range(copies):
        original, copy = students[2 * k], students[2 * k + 1]
        sources[copy] = {m: rename_locals(code, 'the_') for m, code in sources[original].items()}
        planted.append((original, copy))
    return sources, planted


def synthetic_results(rng, students, rubric):
    results = {}
    for student in students:
        tests, items = [], {}
        for item, spec in rubric.items():
            earned = 0.0
            for name, points in spec.tests.items():
                points = float(points)
                fate = rng.random()
                score = points if fate < 0.8 else (0.0 if fate < 0.95 else points / 2)
                output = '' if score == points else rng.choice(MESSAGES).format(
                    x=rng.random(), i=rng.randint(1, 9), j=rng.randint(1, 9))
                tests.append({'name': name, 'number': item, 'score': score, 'max_score': points,
                              'output': output})
                earned += score
            items[item] = {'score': earned, 'max_score': float(spec.points)}
        results[student] = {'score': sum(v['score'] for v in items.values()),
                            'max_score': sum(v['max_score'] for v in items.values()),
                            'tests': tests, 'items': items}
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--students', type=int, default=200)
    parser.add_argument('--copies', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rubric = load_rubric()
    modules = student_modules(rubric)
    release = similarity.release_sources(modules)
    students = [f'student{k:03d}' for k in range(args.students)]
    sources, planted = synthetic_sources(rng, students, args.copies, release)
    results = synthetic_results(rng, students[2:], rubric)
    errors = {s: 'GradeFailed: the grade command exited with 2; then GradeFailed: ...' for s in students[:2]}

    start, cpu = time.perf_counter(), time.process_time()
    found = similarity.similar_pairs(sources, release, max_pairs=class_report.MAX_PAIRS)
    similar, similar_cpu = time.perf_counter() - start, time.process_time() - cpu
    start, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as out:
        page = class_report.render(results, errors, found, grades_dir=Path(out))
    build, build_cpu = time.perf_counter() - start, time.process_time() - cpu
    shown = {(p.a, p.b) for p in found.pairs}
    above = int((found.scores >= found.threshold).sum())
    print(f"class of {args.students}: {len(found.scores)} pairs compared")
    print(f"similarity: {similar:.2f} s wall, {similar_cpu:.2f} s CPU (written code, fingerprints, "
          f"every pair; passages of the {len(found.pairs)} pairs shown)")
    print(f"page:       {build:.2f} s wall, {build_cpu:.2f} s CPU (histograms of {len(rubric) + 2}, "
          f"reasons, HTML)")
    print(f"total:      {similar + build:.2f} s wall, {similar_cpu + build_cpu:.2f} s CPU; "
          f"page {len(page.encode()) / 1e6:.2f} MB")
    print(f"pairs above the threshold: {above}, the {len(planted)} planted near copies: "
          f"{above == len(planted) and shown <= set(planted)} (top scores "
          f"{', '.join(f'{p.score:.2f}' for p in found.pairs[:5])}; {len(shown)} pairs shown)")


if __name__ == '__main__':
    main()
