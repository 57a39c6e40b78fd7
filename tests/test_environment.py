"""The environment files agree: requirements.txt, constraints.txt,
environment.yml, the Makefile and the CI entry point. Each file is parsed (pip
requirement syntax, YAML, make's own dry run), not grepped."""
import importlib.metadata
import os
import re
import shlex
import subprocess

import pytest
import yaml
from packaging.requirements import Requirement

from conftest import REPO

# What the issue asks every install to provide (pip names).
ISSUE_PACKAGES = {'torch', 'numpy', 'matplotlib', 'jupyter', 'nbgrader', 'pytest', 'scikit-learn', 'tqdm'}
TORCH_PIN = '2.13.0'
# conda names that differ from the pip ones.
CONDA_TO_PIP = {'pytorch': 'torch'}


def norm(name):
    """PEP 503 normalized project name."""
    return re.sub(r'[-_.]+', '-', name).lower()


def pip_lines(path):
    """Requirement lines of a pip requirements/constraints file, without
    comments, blanks and options."""
    lines = []
    for line in path.read_text().splitlines():
        line = line.split(' #')[0].strip()
        if line and not line.startswith('#') and not line.startswith('-'):
            lines.append(line)
    return lines


def parse_pip_file(path):
    """{normalized name: Requirement} of a pip requirements file."""
    reqs = [Requirement(line) for line in pip_lines(path)]
    names = [norm(r.name) for r in reqs]
    assert len(names) == len(set(names)), f"{path.name} lists a package twice"
    return dict(zip(names, reqs))


@pytest.fixture(scope='module')
def requirements():
    return parse_pip_file(REPO / 'requirements.txt')


@pytest.fixture(scope='module')
def constraints():
    return parse_pip_file(REPO / 'constraints.txt')


@pytest.fixture(scope='module')
def environment():
    """(conda specs {pip name: spec string or None}, pip section lines, the raw dict)."""
    env = yaml.safe_load((REPO / 'environment.yml').read_text())
    conda, pip = {}, []
    for dep in env['dependencies']:
        if isinstance(dep, dict):
            assert set(dep) == {'pip'}, f"unexpected section {dep}"
            pip += dep['pip']
            continue
        # conda match spec: name, then an optional version (=, ==, >=, ...)
        name, version = re.fullmatch(r'([A-Za-z0-9_.\-]+)\s*(.*)', dep.strip()).groups()
        conda[norm(CONDA_TO_PIP.get(name, name))] = version or None
    return conda, pip, env


def pip_section_requirements(pip):
    return {norm(Requirement(line).name): Requirement(line) for line in pip if not line.startswith('-')}


def test_constraints_pin_torch_exactly(constraints):
    assert str(constraints['torch'].specifier) == f'=={TORCH_PIN}'
    for name, req in constraints.items():
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == '==', f"{name} is not an exact pin"


def test_requirements_list_the_issue_packages(requirements, constraints):
    assert ISSUE_PACKAGES <= set(requirements)
    # Versions live in constraints.txt only, so that there is one place to change them.
    assert all(not req.specifier for req in requirements.values()), "pin in constraints.txt instead"
    # A constraint on a package nobody requires is dead weight (or a typo).
    assert set(constraints) <= set(requirements)


def test_environment_yml_python_and_issue_packages(environment):
    conda, pip, env = environment
    assert conda.get('python') == '=3.11'
    provided = set(conda) | set(pip_section_requirements(pip))
    assert ISSUE_PACKAGES <= provided
    assert 'pip' in conda, "a pip section needs pip installed"


def test_environment_yml_pins_torch_like_constraints(environment, constraints):
    conda, pip, _ = environment
    pip_reqs = pip_section_requirements(pip)
    torch_specs = [str(pip_reqs['torch'].specifier)] if 'torch' in pip_reqs else []
    if 'torch' in conda:
        torch_specs.append(conda['torch'].replace('==', '=').replace('=', '=='))
    assert torch_specs and set(torch_specs) == {str(constraints['torch'].specifier)}
    # Every other pinned package of the pip section follows constraints.txt too.
    for name, req in pip_reqs.items():
        if req.specifier and name in constraints:
            assert req.specifier == constraints[name].specifier, name


def test_environment_yml_pip_section_uses_the_constraints_file(environment):
    _, pip, _ = environment
    options = [shlex.split(line) for line in pip if line.startswith('-')]
    constraint_files = [args[1] for args in options if args[0] in ('-c', '--constraint')]
    # conda runs pip next to environment.yml, so the path is relative to it.
    assert constraint_files and all((REPO / f).resolve() == REPO / 'constraints.txt'
                                    for f in constraint_files)


def dependency_closure(names):
    """The names and everything they require, per the installed distributions."""
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({'extra': ''}):
                todo.append(norm(req.name))
    return seen


def test_conda_environment_installs_every_requirement(environment, requirements):
    """Each requirement is listed in environment.yml or comes with a package
    that is (ipykernel and nbclient come with jupyter, for instance)."""
    conda, pip, _ = environment
    listed = (set(conda) | set(pip_section_requirements(pip))) - {'python', 'pip'}
    missing = set(requirements) - dependency_closure(listed)
    assert not missing, f"environment.yml does not install {sorted(missing)}"


def test_ci_runs_make_test():
    run = REPO / '.ci' / 'run'
    assert os.access(run, os.X_OK), ".ci/run must be executable"
    subprocess.run(['bash', '-n', str(run)], check=True)  # valid bash
    text = run.read_text()
    assert text.startswith('#!') and 'bash' in text.splitlines()[0]
    lines = text.replace('\\\n', ' ').splitlines()[1:]  # join continued lines
    commands = [c for c in (shlex.split(line, comments=True) for line in lines) if c]
    # The last command decides CI's verdict: it must be the README's `make test`.
    assert commands[-1] == ['make', 'test']
    assert ['set', '-euo', 'pipefail'] in commands, "a failing step must fail CI"
    # It runs from the repository root, whatever the caller's directory.
    assert commands.index(['make', 'test']) > min(i for i, c in enumerate(commands) if c[0] == 'cd')


def make_dry_run(target):
    """The commands `make target` would run from scratch (-B: as if nothing were built)."""
    result = subprocess.run(['make', '-n', '-B', '-C', str(REPO), target, 'PYTHON=python3'],
                            capture_output=True, text=True, check=True)
    return [shlex.split(line) for line in result.stdout.splitlines()
            if line.strip() and not line.startswith('make')]


def test_make_test_builds_venv_from_requirements_and_constraints():
    commands = make_dry_run('test')
    venv = next(i for i, c in enumerate(commands) if c[1:4] == ['-m', 'venv', '.venv'])
    install = next(i for i, c in enumerate(commands)
                   if c[0] == '.venv/bin/python' and c[1:4] == ['-m', 'pip', 'install']
                   and '-r' in c and '-c' in c)
    args = commands[install]
    assert args[args.index('-r') + 1] == 'requirements.txt'
    assert args[args.index('-c') + 1] == 'constraints.txt'
    pytest_run = next(i for i, c in enumerate(commands) if c[:3] == ['.venv/bin/python', '-m', 'pytest'])
    assert venv < install < pytest_run
    # CI runs every test: the slow ones too (the default run deselects them).
    options = commands[pytest_run][3:]
    assert options[options.index('-m') + 1] == 'slow or not slow'


def test_make_rebuilds_venv_when_requirements_change():
    database = subprocess.run(['make', '-p', '-n', '-C', str(REPO), 'test-fast', 'PYTHON=python3'],
                              capture_output=True, text=True).stdout
    rules = {}
    for line in database.splitlines():
        m = re.fullmatch(r'([^\s#:=]+):\s*([^=]*)', line)
        if m:
            rules.setdefault(m.group(1), set()).update(m.group(2).split())
    assert {'requirements.txt', 'constraints.txt'} <= rules['.venv/.installed']
    assert '.venv/.installed' in rules['test']


def test_make_bench_runs_the_benchmark():
    commands = make_dry_run('bench')
    assert ['.venv/bin/python', 'benchmarks/bench_layers.py'] in commands
    assert (REPO / 'benchmarks' / 'bench_layers.py').is_file()
