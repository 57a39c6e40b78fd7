"""nbgrader configuration of the course: run nbgrader commands from this folder."""
c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.root = '.'
c.CourseDirectory.course_id = 'nn_from_scratch'
c.CourseDirectory.source_directory = 'solutions'
c.CourseDirectory.release_directory = 'assignments'
c.CourseDirectory.db_assignments = [dict(name='nn_from_scratch')]
# Notebooks run with the solutions in a few minutes; leave room for slow laptops.
c.ExecutePreprocessor.timeout = 600
