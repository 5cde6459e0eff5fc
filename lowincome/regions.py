"""Names for the region codes (county 6 digits, township 9, village 12), from an
optional table `regions.csv` with columns 代码,名称 (or code,name): delivered in the
month's inbox folder, standing at the inbox root, or a configured file (first found
wins). Without it, outputs show codes."""

from __future__ import annotations

import csv
import io
from pathlib import Path

REGIONS_FILE = "regions.csv"
_CODE_HEADERS = ("代码", "区划代码", "code")
_NAME_HEADERS = ("名称", "区划名称", "name")


def read_region_names(path: Path) -> dict[str, str]:
    raw = Path(path).read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValueError(f"{path}: neither UTF-8 nor GB18030")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return {}
    header = [h.strip().lower() for h in rows[0]]
    try:
        ci = next(header.index(h) for h in _CODE_HEADERS if h in header)
        ni = next(header.index(h) for h in _NAME_HEADERS if h in header)
    except StopIteration:
        raise ValueError(f"{path}: expected columns 代码,名称") from None
    names = {}
    for row in rows[1:]:
        if len(row) > max(ci, ni):
            code, name = row[ci].strip(), row[ni].strip()
            if code and name:
                names[code] = name
    return names


def region_names(month_folder: Path | None, configured: Path | str | None = None) -> dict[str, str]:
    """The month's delivered table, else the inbox root's (the month folder's parent),
    else the configured file; {} when none exists."""
    folder = Path(month_folder) if month_folder else None
    candidates = [folder / REGIONS_FILE, folder.parent / REGIONS_FILE] if folder else []
    candidates.append(Path(configured) if configured else None)
    for candidate in candidates:
        if candidate and candidate.is_file():
            return read_region_names(candidate)
    return {}
