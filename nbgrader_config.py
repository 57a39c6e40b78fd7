"""nbgrader configuration of the course: run nbgrader commands from this folder."""
import os
import sys
import warnings

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

# nbgrader's command does not put the course folder on sys.path: the plugin
# below and coursekit live here.
_COURSE = os.path.dirname(os.path.abspath(__file__))
if _COURSE not in sys.path:
    sys.path.insert(0, _COURSE)

from autograder.integrations.nbgrader_plugin import AUTOGRADE_PREPROCESSORS, FEEDBACK_PREPROCESSORS  # noqa: E402
from autograder.blocks import student_functions  # noqa: E402

# Absolute: nbgrader warns about a relative root. The gradebook is
# gradebook.db here; `python -m coursekit release` records the assignment in
# it (nbgrader 0.9 ignores CourseDirectory.db_assignments).
c.CourseDirectory.root = _COURSE
# nbgrader's own Gradebook.update_or_create_submission trips SQLAlchemy's
# autoflush warning at every autograde (harmless: nbgrader adds the objects
# right after); grade-all silences the same one (gradebook.record_scores).
warnings.filterwarnings('ignore', message=r'Object of type <Submitted\w+> not in session',
                        module=r'nbgrader\.api')
c.CourseDirectory.course_id = 'nn_from_scratch'
c.CourseDirectory.source_directory = 'solutions'
c.CourseDirectory.release_directory = 'assignments'
# nbgrader copies .py files into the release verbatim: this hook replaces the
# package's solution blocks with stubs right after generate_assignment.
c.GenerateAssignment.post_convert_hook = 'coursekit.release.stub_after_generate'
# Notebooks run with the solutions in a few minutes; leave room for slow laptops.
c.ExecutePreprocessor.timeout = 600
c.Execute.timeout = 600

# Autograde keeps the student's own modules: every scratchnn module holding a
# solution block (layers, dropout, normalization, init, optim). Without this it
# would copy the solutions over them. The given modules are overwritten with
# the course's copies.
_PACKAGE = os.path.join(_COURSE, 'solutions', 'nn_from_scratch', 'scratchnn')
c.Autograde.exclude_overwriting = {
    'nn_from_scratch': [f'scratchnn/{module}.py' for module in sorted(student_functions(_PACKAGE))],
}
# Scores come from the trusted harness (autograder/integrations/nbgrader_plugin.py), not
# from running the notebooks: HarnessGrades replaces Execute. Its
# hidden-suite runs have their own per-test time limits.
c.Autograde.autograde_preprocessors = AUTOGRADE_PREPROCESSORS
# Device for the hidden suites (None: CUDA when present); the harness's workers,
# sandboxed child processes started ahead of need (None: its default).
c.HarnessGrades.device = None
c.HarnessGrades.workers = None
# Feedback pages never show hidden-test regions (nbgrader issue #917).
c.GenerateFeedback.preprocessors = FEEDBACK_PREPROCESSORS

# `nbgrader zip_collect nn_from_scratch`: one archive (or file) per student,
# downloaded/nn_from_scratch/archive/<student>.zip, holding what the student
# handed in (python -m scratchnn.check --zip: the notebooks and scratchnn/, or
# only the modules). Another learning management system's naming: change
# named_regexp (student_id and file_id are required groups).
c.ZipCollectApp.extractor_plugin = 'autograder.integrations.nbgrader_plugin.ReleasedNotebooksExtractor'
c.ZipCollectApp.collector_plugin = 'nbgrader.plugins.zipcollect.FileNameCollectorPlugin'
c.FileNameCollectorPlugin.named_regexp = r'.*/extracted/(?P<student_id>[^/]+)/(?:[^/]*/)*?(?P<file_id>(?:scratchnn/)?[^/]+)$'
c.FileNameCollectorPlugin.valid_ext = ['.ipynb', '.py']
