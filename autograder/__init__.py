"""The autograder: hidden suites and the harness that runs them on submissions."""
