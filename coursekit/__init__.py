"""Course tooling: the release of the assignment and the instructor pipeline."""
