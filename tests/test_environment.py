"""The two dependency lists (pip's pyproject.toml, conda's environment.yml) must agree."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _normalise(spec: str) -> tuple[str, str]:
    """'scikit-learn >= 1.3' -> ('scikit-learn', '>=1.3'); names compared case-insensitively."""
    spec = spec.replace(" ", "")
    name, version = re.match(r"([A-Za-z0-9_.\-]+)(.*)", spec).groups()
    return name.lower().replace("_", "-"), version


def pyproject_deps():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(_normalise(s) for s in specs)


def environment_deps():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    specs = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    specs += [s for s in pip_section if not s.startswith("-")]  # packages conda-forge lacks
    deps = dict(_normalise(s) for s in specs)
    deps.pop("pip")
    python = deps.pop("python")
    return deps, python, env


def test_same_dependencies_and_versions():
    deps, _, _ = environment_deps()
    pip = pyproject_deps()
    assert deps.keys() == pip.keys(), (
        f"only in environment.yml: {sorted(deps.keys() - pip.keys())}; "
        f"only in pyproject.toml: {sorted(pip.keys() - deps.keys())}"
    )
    differ = {k: (pip[k], deps[k]) for k in pip if pip[k] != deps[k]}
    assert not differ, f"version specs differ (pyproject, environment.yml): {differ}"


def test_same_python_floor_and_project_installed():
    _, python, env = environment_deps()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert python == project["requires-python"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section, "environment.yml must install the course package itself"


def test_torch_is_not_a_dependency():
    # PyTorch is a test oracle only (CI installs it); nnkit must never need it.
    assert "torch" not in pyproject_deps()
    for path in (ROOT / "nnkit").rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+torch\b", path.read_text(), re.M), path
