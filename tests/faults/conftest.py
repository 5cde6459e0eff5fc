"""Shared pieces of the fault suite (issue #11), and the count of fault kinds it covers.

Counting convention: every test function under tests/faults/ is one fault case.
Its kind is the value of its `@pytest.mark.fault_kind("…")` marker when it has one
(several functions may share a kind), else the function's name; parametrized
variants of one function count once. At the end of a session that collected any
fault test, the suite prints `fault kinds: N`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

PARAMS = Path(__file__).resolve().parents[2] / "data_samples" / "params.yaml"


def pytest_configure(config):
    config.addinivalue_line("markers", "fault_kind(name): the fault kind a tests/faults case covers (counted once)")


def _fault_kind(item) -> str | None:
    if "tests/faults/" not in str(item.path).replace("\\", "/"):
        return None
    marker = item.get_closest_marker("fault_kind")
    if marker and marker.args:
        return str(marker.args[0])
    return getattr(item, "originalname", None) or item.name.split("[")[0]


def pytest_collection_modifyitems(session, config, items):
    session.config._fault_kinds = sorted({k for k in map(_fault_kind, items) if k})


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    kinds = getattr(config, "_fault_kinds", None)
    if kinds:
        terminalreporter.write_line(f"fault kinds: {len(kinds)}")


# ----------------------------------------------------------------- shared helpers
def refresh_manifest(folder: Path, name: str, rows: int | None = None) -> None:
    """After a test changed `folder/name` on purpose: the sender's manifest describes the new file
    (the fault under test is the content, not a manifest mismatch)."""
    path = folder / "_MANIFEST.json"
    manifest = json.loads(path.read_text(encoding="utf-8-sig"))
    entry = manifest["files"].setdefault(name, {})
    entry["sha256"] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    if rows is not None:
        entry["rows"] = rows
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")


def run_paths(root: Path, inbox: Path, name: str) -> dict[str, str]:
    return {
        "inbox": str(inbox),
        "warehouse": str(root / f"{name}.duckdb"),
        "exports": str(root / f"{name}_exports"),
        "params": str(PARAMS),
    }


@pytest.fixture(scope="session")
def fault_base(tmp_path_factory) -> Path:
    """Two generated months, small: the base the order/params/return/privacy cases are built from."""
    from data_samples.generate import generate

    root = tmp_path_factory.mktemp("fault_base")
    generate(root, households=150, months=2, start_month="2026-07", seed=23)
    return root


def copy_inbox(base: Path, dest: Path) -> Path:
    shutil.copytree(base / "inbox", dest)
    return dest
