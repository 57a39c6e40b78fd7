"""The class page (autograder/class_report.py) and the similar submissions
(autograder/similarity.py), on synthetic results and sources: in-process, fast.
The page of a really graded class, in a browser: tests/test_grade_all.py."""
import base64
import json
import re

import pytest

from autograder import class_report, similarity
from autograder.isolation import intake
from autograder.rubric import student_modules
from conftest import RELEASE, SOLUTIONS
from coursekit.submissions import rename_locals

MODULES = student_modules()


def test(item, score, max_score, output='', **extra):
    return {'name': f'test_{item}_{len(output)}_{score}', 'number': item, 'score': score,
            'max_score': max_score, 'output': output, **extra}


test.__test__ = False     # a helper, not a test


def results(*tests):
    items = {}
    for t in tests:
        points = items.setdefault(t['number'], {'score': 0.0, 'max_score': 0.0})
        points['score'] += t['score']
        points['max_score'] += t['max_score']
    return {'score': sum(p['score'] for p in items.values()),
            'max_score': sum(p['max_score'] for p in items.values()), 'tests': list(tests), 'items': items}


def klass():
    """Four students: ann full marks, bob and cat the same softmax mistake with
    other numbers, dan a time-out, a rule violation and a cascade."""
    return {
        'ann': results(test('softmax_loss', 5, 5), test('sgd', 2, 2), test('relu_forward', 2, 2)),
        'bob': results(test('softmax_loss', 0, 5, 'relative error 3.1e-01 (allowed 1e-09)\ndetails'),
                       test('sgd', 2, 2), test('relu_forward', 2, 2)),
        'cat': results(test('softmax_loss', 1, 5, 'relative error 12.5 (allowed 1e-09)'),
                       test('sgd', 1, 2, 'optim.sgd(w, dw) did not finish within 20 s (an infinite loop?)'),
                       test('relu_forward', 2, 2)),
        'dan': results(test('softmax_loss', 5, 5),
                       test('sgd', 0, 2, "optim.sgd(w, dw) ran out of this item's time budget (30 s in all)"),
                       test('relu_forward', 0, 2, 'Rule violation: torch.relu at line 3. scratchnn must be '
                                                  'written by hand; this item gets 0 points.'),
                       test('relu_backward', 0, 1, 'relu failed', caused_by='relu_forward')),
    }


def test_reasons_that_differ_in_numbers_only_are_one_reason():
    reasons = class_report.lost_reasons(klass())
    softmax = [r for r in reasons if r.item == 'softmax_loss']
    assert len(softmax) == 1
    assert softmax[0].pattern == 'relative error # (allowed #)'
    assert softmax[0].lost == {'bob': 5.0, 'cat': 4.0}
    assert reasons[0] is softmax[0], "the reason that cost the most comes first"
    cascade = next(r for r in reasons if r.item == 'relu_backward')
    assert cascade.caused_by == 'relu_forward' and cascade.shown == 'relu failed'


def test_items_come_by_points_lost_with_full_partial_and_zero_counts():
    stats = class_report.item_stats(klass())
    assert [s.item for s in stats] == ['softmax_loss', 'sgd', 'relu_forward', 'relu_backward']
    softmax = stats[0]
    assert (softmax.full, softmax.partial, softmax.zero) == (2, 1, 1)
    assert softmax.mean == pytest.approx(11 / 4) and softmax.lost == 9


def test_time_outs_rule_violations_and_ungraded_students_are_listed():
    found = class_report.incidents(klass(), {'eve': 'GradeFailed: the grade command exited with 2'})
    listed = {(i.student, i.kind, tuple(i.items)) for i in found}
    assert listed == {('cat', 'ran out of time', ('sgd',)), ('dan', 'ran out of time', ('sgd',)),
                      ('dan', 'broke a rule', ('relu_forward',)), ('eve', 'not graded', ())}
    assert 'exited with 2' in next(i.reason for i in found if i.student == 'eve')


def test_the_page_escapes_everything_a_student_wrote(tmp_path):
    hostile = '<b onmouseover=alert(1)>"\'&'                  # a student id (a folder's name)
    data = {hostile: results(test('softmax_loss', 0, 5, '<script>alert(2)</script><img src=x>'))}
    (tmp_path / hostile).mkdir()
    (tmp_path / hostile / 'feedback.html').write_text('')
    pair = similarity.Pair(hostile, 'bob', 0.9, 0.9, 0.8, 99, [similarity.Passages(
        'layers', [('x = "</pre><script>"\n', [(0, 5)])], [('y = 1\n', [(0, 5)])])])
    found = similarity.Similarity([pair], similarity.np.array([0.9]), [hostile, 'bob'], 0.5)
    page = class_report.render(data, {'<b>eve</b>': hostile}, found, grades_dir=tmp_path)
    assert '<script' not in page and '<img src=x' not in page and '<b onmouseover' not in page
    assert '&lt;b onmouseover=alert(1)&gt;&quot;&#x27;&amp;' in page
    assert 'href="%3Cb%20onmouseover%3Dalert%281%29%3E%22%27%26/feedback.html"' in page
    assert '&lt;script&gt;alert(2)&lt;/script&gt;' in page and '&lt;/pre&gt;&lt;script&gt;' in page


def test_histograms_are_embedded_pngs():
    page = class_report.render(klass(), {})
    uris = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 1 + 4             # the totals, then one per item
    assert all(base64.b64decode(uri).startswith(b'\x89PNG') for uri in uris)
    assert 'http' not in page and '<script' not in page and '<link' not in page


def package(edits=None, source=SOLUTIONS / 'scratchnn'):
    """{module: text} of the solution (or release) modules, each edited by edits[module]."""
    edits = edits or {}
    return {m: edits.get(m, lambda s: s)((source / f'{m}.py').read_text()) for m in MODULES}


def own_softmax(text):
    """The release's layers.py with a softmax_loss of one's own (no max shift)."""
    stub = '    # YOUR CODE HERE\n    raise NotImplementedError("Implement softmax_loss in scratchnn/layers.py")\n'
    return text.replace(stub, '    e = torch.exp(x)\n    p = e / e.sum(1, keepdim=True)\n'
                              '    loss = -torch.log(p[torch.arange(len(y)), y]).mean()\n'
                              '    dx = p.clone()\n    dx[torch.arange(len(y)), y] -= 1\n'
                              '    return loss, dx / len(y)\n')


def test_a_renamed_copy_is_the_top_pair_and_given_code_never_counts():
    release = similarity.release_sources(MODULES)
    rename = lambda text: rename_locals(text, 'my_')
    sources = {'ada': package(), 'abe': package({m: rename for m in MODULES}),
               'ben': package(source=RELEASE / 'scratchnn'),                  # handed in the release
               'mia': package({'layers': own_softmax}, source=RELEASE / 'scratchnn')}
    found = similarity.similar_pairs(sources, release, threshold=0.5)
    assert [(p.a, p.b) for p in found.pairs] == [('abe', 'ada')]
    assert found.pairs[0].score > 0.95
    assert found.students == ['abe', 'ada', 'mia'], "ben wrote nothing: nothing to compare"
    assert sorted(found.scores)[:2] == [0, 0]
    layers = next(p for p in found.pairs[0].passages if p.module == 'layers')
    text, spans = next((u, s) for u, s in layers.units_a if 'my_shifted' in u)
    assert any('my_shifted' in text[a:b] for a, b in spans)
    # the release's code, retyped by both, counts for nothing
    retyped = {'ann': package({'layers': lambda t: t + '\n' + release['optim']}, source=RELEASE / 'scratchnn'),
               'bea': package({'layers': lambda t: t + '\n' + release['optim']}, source=RELEASE / 'scratchnn')}
    assert similarity.similar_pairs(retyped, release).students == []


def test_a_submission_that_does_not_parse_is_compared_by_its_changed_lines():
    release = similarity.release_sources(MODULES)
    broken = lambda text: own_softmax(text) + '\ndef oops(:\n'
    sources = {'mia': package({'layers': own_softmax}, source=RELEASE / 'scratchnn'),
               'max': package({'layers': broken}, source=RELEASE / 'scratchnn')}
    found = similarity.similar_pairs(sources, release, threshold=0.5)
    assert [(p.a, p.b) for p in found.pairs] == [('max', 'mia')]
    nested = {'max': {'layers': own_softmax(release['layers']) + 'x = ' + '(' * 300 + ')' * 300 + '\n'}}
    assert similarity.written_units(nested['max']['layers'], release['layers'])   # read as text


def test_report_rebuilds_the_page_from_a_grades_folder(tmp_path, capsys):
    from autograder.cli import main
    from autograder.rubric import load_rubric
    rubric = load_rubric()
    subs, grades = tmp_path / 'submitted', tmp_path / 'grades'
    for student, edit in [('ada', None), ('abe', lambda t: rename_locals(t, 'the_'))]:
        folder = subs / student / 'scratchnn'
        folder.mkdir(parents=True)
        for module, text in package({m: edit for m in MODULES} if edit else None).items():
            (folder / f'{module}.py').write_text(text)
        full = {'score': 100.0, 'max_score': 100.0, 'tests': [],
                'items': {i: {'score': float(s.points), 'max_score': float(s.points)} for i, s in rubric.items()},
                'grading': {'submission': intake.digest(intake.pack(subs / student, MODULES))}}
        (grades / student).mkdir(parents=True)
        (grades / student / 'results.json').write_text(json.dumps(full))
        (grades / student / 'feedback.html').write_text('')
    (grades / 'eve').mkdir()
    (grades / 'eve' / 'error.txt').write_text('the grade command exited with 2\n')
    assert main(['report', str(grades), '--threshold', '0.8']) == 0
    page = (grades / 'class.html').read_text()
    assert 'class report written to' in capsys.readouterr().out
    assert '<a href="abe/feedback.html">abe</a></td><td><a href="ada/feedback.html">ada</a>' in page
    assert 'threshold 0.8' in page and 'the grade command exited with 2' in page
    (subs / 'abe' / 'scratchnn' / 'dropout.py').write_text('# resubmitted\n')     # not what was graded
    assert main(['report', str(grades), '--submissions', str(subs)]) == 0
    assert 'id="no-pairs"' in (grades / 'class.html').read_text()
    assert main(['report', str(tmp_path / 'nowhere')]) == 2
    for threshold in ('1.5', '-0.1', 'nan', 'half'):     # every pair or none, silently
        with pytest.raises(SystemExit) as stopped:
            main(['report', str(grades), '--threshold', threshold])
        assert stopped.value.code == 2
    assert 'is not a number from 0 to 1' in capsys.readouterr().err


def test_a_student_whose_folder_is_encoded_keeps_its_id_and_its_link(tmp_path):
    """grade-all puts a student named like a class file (scores.csv) or with a
    '%' in a percent-encoded folder (results.student_dir): the page links that
    folder and a rebuild reads the id back, not the folder's name."""
    from autograder.results import student_dir
    grades = tmp_path / 'grades'
    written = {'scores.csv': klass()['bob'], '50%': klass()['cat']}   # both in a reason's students
    for student, found in written.items():
        folder = student_dir(grades, student)
        folder.mkdir(parents=True)
        assert folder.name != student
        (folder / 'results.json').write_text(json.dumps(found))
        (folder / 'feedback.html').write_text('')
    page = class_report.render(written, {}, None, grades_dir=grades)
    assert '<a href="%2573cores.csv/feedback.html">scores.csv</a>' in page
    assert '<a href="50%2525/feedback.html">50%</a>' in page
    results, errors = class_report.read_grades(grades, ['softmax_loss', 'sgd', 'relu_forward'])
    assert set(results) == set(written) and errors == {}
