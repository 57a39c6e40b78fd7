"""Feedback, first things first: on the feedback page (autograder/report.py)
and on nbgrader's feedback pages (LostPointsFirst), the items that lost points
come first, each with its reason and a link to the item that caused it; the
items with full marks are folded below."""
import json
import shutil
import subprocess

import nbformat
import pytest

from autograder import report
from autograder.results import RESULTS_NAME
from autograder.integrations.nbgrader_plugin import LostPointsFirst


def results():
    """A submission that passes relu_forward, loses all of linear_forward and
    part of linear_backward, whose failure linear_forward caused."""
    tests = [
        {'name': 'test_linear_forward_values', 'number': 'linear_forward', 'score': 0, 'max_score': 2,
         'output': 'Linear.forward(x, w, b): out differs from x @ w + b\nmore detail'},
        {'name': 'test_linear_forward_dtype', 'number': 'linear_forward', 'score': 1, 'max_score': 1,
         'output': ''},
        {'name': 'test_linear_backward_values', 'number': 'linear_backward', 'score': 0, 'max_score': 2,
         'output': 'Linear.backward: dx is wrong', 'caused_by': 'linear_forward'},
        {'name': 'test_linear_backward_dtype', 'number': 'linear_backward', 'score': 2, 'max_score': 2,
         'output': ''},
        {'name': 'test_relu_forward_values', 'number': 'relu_forward', 'score': 2, 'max_score': 2,
         'output': ''},
    ]
    return {'score': 5, 'max_score': 9, 'tests': tests, 'items': {
        'relu_forward': {'score': 2, 'max_score': 2},       # rubric order differs from the page's
        'linear_backward': {'score': 2, 'max_score': 4},
        'linear_forward': {'score': 1, 'max_score': 3}}}


def positions(page, *needles):
    found = [page.find(needle) for needle in needles]
    assert all(p >= 0 for p in found), [n for n, p in zip(needles, found) if p < 0]
    return found


def test_page_lists_lost_points_first_with_reasons_and_causes():
    page = report.render(results(), 'ann')
    lost, backward, forward, full, relu = positions(
        page, '<h2 id="lost">Points lost in 2 items</h2>', '<section class="item" id="linear_backward">',
        '<section class="item" id="linear_forward">', '<details id="full"><summary>Full marks: 1 item</summary>',
        '<section class="item" id="relu_forward">')
    # the cause before the item it caused, both before the folded full marks
    assert lost < forward < backward < full < relu
    section = page[backward:page.index('</section>', backward)]
    assert 'Caused by <a href="#linear_forward">linear_forward</a>' in section
    assert 'Linear.backward: dx is wrong' in section
    assert '<details><summary>1 passed test</summary>' in section
    assert 'Linear.forward(x, w, b): out differs from x @ w + b\nmore detail' in page
    assert '<table id="scores">' in page and 'Total: <b>5 / 9</b>' in page


def test_an_item_with_several_causes_names_each_of_them():
    tests = [{'name': 'a', 'number': 'fc_net', 'score': 0, 'max_score': 1, 'caused_by': 'xavier_normal',
              'output': 'x'},
             {'name': 'b', 'number': 'fc_net', 'score': 0, 'max_score': 1, 'caused_by': 'dropout_forward',
              'output': 'y'},
             {'name': 'c', 'number': 'fc_net', 'score': 0, 'max_score': 1, 'caused_by': 'xavier_normal',
              'output': 'z'}]
    assert report.causes(tests, 'fc_net') == ['xavier_normal', 'dropout_forward']
    assert report.causes(tests[:1] + [{**tests[1], 'score': 1}], 'fc_net') == ['xavier_normal']   # passed
    page = report.render({'score': 0, 'max_score': 3, 'tests': tests,
                          'items': {'fc_net': {'score': 0, 'max_score': 3}}}, 'ann')
    assert ('Caused by <a href="#xavier_normal">xavier_normal</a>, '
            '<a href="#dropout_forward">dropout_forward</a>: fix those items first') in page


STUB = 'optim.{item}: not implemented (Implement {item} in scratchnn/optim.py)'


def half_done():
    """results() and eight items not written yet, ten tests each, before the
    real failures in results order (as notebook 1's items come before 3's)."""
    data = results()
    unwritten = {f'opt_{k}': {'score': 0, 'max_score': 3} for k in range(8)}
    data['items'] = {**unwritten, **data['items']}
    data['tests'] = [{'name': f'test_{item}_{n}', 'number': item, 'score': 0, 'max_score': 0.3,
                      'output': STUB.format(item=item)} for item in unwritten for n in range(10)] + data['tests']
    return data


def test_items_not_written_yet_are_one_line_each_after_the_real_failures():
    page = report.render(half_done(), 'ann')
    lost, forward, unwritten, full = positions(
        page, '<h2 id="lost">Points lost in 2 items</h2>', '<section class="item" id="linear_forward">',
        '<h2 id="unwritten">Not written yet: 8 items</h2>', '<details id="full">')
    assert lost < forward < unwritten < full
    assert page.count(STUB.format(item='opt_3')) == 1          # one line, not ten
    assert f'<li id="opt_3"><a href="#opt_3">opt_3</a> (0 / 3): {STUB.format(item="opt_3")}</li>' in page
    # each item's tests are folded under its one-line summary
    section = page[forward:page.index('</section>', forward)]
    assert section.startswith('<section class="item" id="linear_forward"><details><summary>linear_forward: 1 / 3: '
                              'Linear.forward(x, w, b): out differs from x @ w + b</summary>')
    summary = report.lost_points_html(half_done())
    assert summary.index('Points lost in 2 items') < summary.index('Not written yet: 8 items')
    assert summary.count(STUB.format(item='opt_3')) == 1


def test_the_total_counts_the_written_questions_pending():
    data = dict(results(), written={'score': None, 'max_score': 4})
    assert ('Total: <b>5 / 13</b>: autograded <b>5 / 9</b>, written questions pending / 4 (graded by hand)'
            in report.render(data))
    assert 'Total: <b>5 / 9</b></div>' in report.render(results())    # a grade of some items only


def test_a_cause_outside_the_lost_items_is_still_linked():
    data = results()
    data['tests'][0]['score'] = 2                        # linear_forward now passes
    data['items']['linear_forward'] = {'score': 3, 'max_score': 3}
    page = report.render(data)
    assert 'Caused by <a href="#linear_forward">' in page
    assert page.index('id="linear_backward"') < page.index('<details id="full">') < page.index('id="linear_forward"')


def test_full_marks_everywhere_says_so():
    data = results()
    for test in data['tests']:
        test['score'] = test['max_score']
    data['items'] = {k: {'score': v['max_score'], 'max_score': v['max_score']} for k, v in data['items'].items()}
    page = report.render(data)
    assert '<h2 id="lost">Full marks on every item</h2>' in page and 'class="fail"' not in page


def test_summary_for_one_notebook_links_other_notebooks():
    href = lambda item: '#' + item if item != 'linear_forward' else 'other.html#linear_forward'
    summary = report.lost_points_html(results(), ['linear_backward', 'relu_forward'], href)
    assert summary.index('Points lost in 1 item') < summary.index('Full marks: 1 item')
    assert '<a href="#linear_backward">linear_backward</a> (2 / 4): Linear.backward: dx is wrong' in summary
    assert 'Caused by <a href="other.html#linear_forward">linear_forward</a>' in summary
    assert 'id=' not in summary, "nbgrader's page has the items' anchors already"


def graded_notebook():
    """A notebook with the graded cells of two items of notebook 1."""
    cells = [nbformat.v4.new_markdown_cell('# 1. Layers')]
    for item, points in (('linear_forward', 3), ('linear_backward', 4)):
        cell = nbformat.v4.new_code_cell(f'public_checks.{item}()')
        cell.metadata['nbgrader'] = {'grade': True, 'grade_id': item, 'points': points, 'locked': True,
                                     'solution': False, 'task': False, 'schema_version': 3}
        cells.append(cell)
    return nbformat.v4.new_notebook(cells=cells)


def test_nbgrader_feedback_gets_the_summary_first(tmp_path):
    (tmp_path / RESULTS_NAME).write_text(json.dumps(results()))
    nb, _ = LostPointsFirst().preprocess(graded_notebook(), {'metadata': {'path': str(tmp_path)}})
    first = nb.cells[0]
    assert first.cell_type == 'markdown' and first.metadata['lost_points_first']
    assert first.source.index('linear_forward') < first.source.index('linear_backward')
    assert 'Caused by <a href="#linear_forward">' in first.source    # same notebook: same page
    assert 'relu_forward' not in first.source, "only this notebook's items"
    assert len(nb.cells) == 4


def test_nbgrader_feedback_without_results_is_unchanged(tmp_path):
    nb, _ = LostPointsFirst().preprocess(graded_notebook(), {'metadata': {'path': str(tmp_path)}})
    assert len(nb.cells) == 3


def chromium():
    return shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')


def many_passes():
    """A half-done student: eight items not written yet (ten tests each), two
    that lost points, then thirty with full marks and three tests each."""
    data = half_done()
    for i in range(30):
        item = f'item_{i:02d}'
        data['items'][item] = {'score': 3, 'max_score': 3}
        data['tests'] += [{'name': f'test_{item}_{k}', 'number': item, 'score': 1, 'max_score': 1,
                           'output': ''} for k in range(3)]
    return data


def screenshot(page, tmp_path, name):
    """The page as headless Chromium draws it in a 1200 x 2400 window: pixels."""
    import matplotlib.image
    html_file, shot = tmp_path / f'{name}.html', tmp_path / f'{name}.png'
    html_file.write_text(page)
    subprocess.run([chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                    '--hide-scrollbars', f'--user-data-dir={tmp_path / "profile"}', f'--screenshot={shot}',
                    '--window-size=1200,2400', html_file.as_uri()], capture_output=True, timeout=120, check=True)
    return matplotlib.image.imread(shot)[..., :3]


@pytest.mark.slow
@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed (.ci/run installs it)")
def test_browser_shows_lost_points_and_folds_full_marks(tmp_path):
    """Drawn by a real browser, a half-done student's page is short: the lost
    points at the top, one line per item not written yet, the thirty items
    with full marks folded. Unfolded, they fill the window."""
    page = report.render(many_passes(), 'ann')
    folded = screenshot(page, tmp_path, 'folded')
    unfolded = screenshot(page.replace('<details', '<details open'), tmp_path, 'open')
    top, bottom = slice(0, 600), slice(1600, 2400)
    assert folded[top].std() > 0.05, "the lost points are drawn at the top"
    assert folded[bottom].std() < 0.01, "the items with full marks are folded away"
    assert unfolded[bottom].std() > 0.05, "unfolded, their tests would fill the page"
