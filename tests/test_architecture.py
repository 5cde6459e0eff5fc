"""The import contracts of pyproject.toml ([tool.importlinter]) hold on the repository,
and they bite: a copy of the packages with one forbidden import added fails, naming it.

lint-imports runs as a subprocess on the copy (its own PYTHONPATH first, so the copy's
packages are analysed, not the installed ones); no network, a few seconds per run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lowincome", "quality", "assets", "pipelines", "data_samples")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_of_packages(dest: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def test_repository_keeps_the_import_contracts():
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


# (module added to the copy, its source, the import the report must name, the contract it breaks)
PROBES = [
    pytest.param(
        "lowincome/_probe.py",
        "import pipelines\n",
        "lowincome._probe -> pipelines",
        "pipelines > assets > quality > lowincome",
        id="domain-imports-pipelines",
    ),
    pytest.param(
        "lowincome/_probe.py",
        "def settings():\n    from quality import config\n\n    return config\n",
        "lowincome._probe -> quality.config",
        "pipelines > assets > quality > lowincome",
        id="lazy-upward-import-inside-a-function",
    ),
    pytest.param(
        "lowincome/_probe.py",
        "import dagster\n",
        "lowincome._probe -> dagster",
        "lowincome and quality import no dagster",
        id="domain-imports-dagster",
    ),
    pytest.param(
        "assets/_probe.py",
        "from data_samples import generate\n",
        "assets._probe -> data_samples.generate",
        "nothing of ours imports data_samples",
        id="asset-imports-sample-generator",
    ),
]


@pytest.mark.parametrize(("module", "source", "named", "contract"), PROBES)
def test_a_forbidden_import_breaks_the_contract(tmp_path, module, source, named, contract):
    root = copy_of_packages(tmp_path)
    (root / module).write_text(textwrap.dedent(source), encoding="utf-8")
    run = lint_imports(root)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 broken" in run.stdout  # only the probe's contract: the copy itself keeps them all
    broken = run.stdout.split("Broken contracts", 1)[1]
    assert contract in broken
    assert named in broken
