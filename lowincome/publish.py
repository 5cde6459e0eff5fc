"""Caseworker workbooks go out as a complete set or not at all.

The month's workbooks are written to a staging folder beside the exports
(`<exports>/.staging/<YYYY-MM>-<pid>/`), then the previous set's completion
marker is removed, the old workbooks are replaced by the new ones (os.replace,
same file system), and only then `<exports>/<YYYY-MM>/_COMPLETE.json` is written,
listing every workbook with its size and sha256. A run killed at any point leaves
either the previous complete set with its marker, or a folder without a marker
(incomplete, to be rerun) -- never a partial set that looks complete. The marker
of a withheld month lists no files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from lowincome.ingest import file_sha256

MARKER = "_COMPLETE.json"


def is_complete(exports: Path, month: dt.date) -> bool:
    """True when the month's workbook set is complete: marker present and every listed file matches."""
    folder = Path(exports) / f"{month:%Y-%m}"
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    files = marker.get("files", [])
    present = {p.name for p in folder.glob("*.xlsx")}
    if present != {f["name"] for f in files}:
        return False
    return all(file_sha256(folder / f["name"]) == f["sha256"] for f in files)


def publish_workbooks(exports: Path, month: dt.date, write: Callable[[Path], list[Path]]) -> list[Path]:
    """Run `write(staging_root)` (which writes staging_root/<YYYY-MM>/*.xlsx), then move
    the set into `exports/<YYYY-MM>/` and mark it complete. Returns the final paths."""
    exports = Path(exports)
    final = exports / f"{month:%Y-%m}"
    staging_root = exports / ".staging" / f"{month:%Y-%m}-{os.getpid()}"
    shutil.rmtree(staging_root, ignore_errors=True)
    staging_root.mkdir(parents=True)
    try:
        written = [Path(p) for p in write(staging_root)]
        final.mkdir(parents=True, exist_ok=True)
        (final / MARKER).unlink(missing_ok=True)  # from here until the end the set is incomplete
        # A rerun replaces the month's workbooks: none of an earlier run may linger
        # (e.g. a township without flags now, or a month whose flags are withheld).
        for stale in final.glob("*.xlsx"):
            stale.unlink()
        moved = []
        for p in sorted(written):
            target = final / p.name
            os.replace(p, target)
            moved.append(target)
        entries = [{"name": p.name, "bytes": p.stat().st_size, "sha256": file_sha256(p)} for p in moved]
        marker = {
            "month": f"{month:%Y-%m}",
            "workbooks": len(entries),
            "files": entries,
            "note": "本月核查清单完整 / the month's workbook set is complete",
        }
        tmp = final / (MARKER + ".tmp")
        tmp.write_text(json.dumps(marker, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, final / MARKER)
        return moved
    finally:
        shutil.rmtree(staging_root, ignore_errors=True)
        try:
            (exports / ".staging").rmdir()
        except OSError:
            pass
