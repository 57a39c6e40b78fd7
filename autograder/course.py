"""Where the course's parts are: the one place that knows the folder layout.

    from autograder.course import COURSE
    COURSE.root               # the course folder (nbgrader's CourseDirectory.root)
    COURSE.solutions          # solutions/nn_from_scratch: nbgrader's source
    COURSE.release            # assignments/nn_from_scratch: the student release
    COURSE.solution_package   # .../scratchnn of each
    COURSE.release_package
    COURSE.given_modules      # the package's modules students do not write

nbgrader_config.py names the same assignment (course_id);
tests/test_nbgrader.py checks that the two agree.
"""
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Course:
    root: Path
    assignment: str = 'nn_from_scratch'
    package: str = 'scratchnn'
    # Given whole by the release and always taken from the course, never from a
    # submission: the sandbox's trusted modules, and what the rule check lets
    # student code import from the package besides the student modules.
    given_modules: tuple = ('gradcheck', 'data', 'solver', 'conv', 'device', '_checks')

    @property
    def solutions(self) -> Path:
        return self.root / 'solutions' / self.assignment

    @property
    def release(self) -> Path:
        return self.root / 'assignments' / self.assignment

    @property
    def solution_package(self) -> Path:
        return self.solutions / self.package

    @property
    def release_package(self) -> Path:
        return self.release / self.package


COURSE = Course(Path(__file__).resolve().parent.parent)
