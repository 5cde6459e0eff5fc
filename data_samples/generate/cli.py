"""The command line: `python -m data_samples.generate --out DIR ...`."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from data_samples.generate.build import DEFAULT_PARAMS, generate
from data_samples.generate.world import PREFECTURE, Shape


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Generate synthetic monthly deliveries + ground truth.")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--households", type=int, default=2000)
    ap.add_argument("--months", type=int, default=3)
    ap.add_argument("--start", default="2026-07")
    ap.add_argument("--seed", type=int, default=20261129)
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    ap.add_argument("--omit", action="append", default=[], help="YYYY-MM:source to leave out (repeatable)")
    ap.add_argument(
        "--prefecture",
        action="store_true",
        help=f"prefecture shape {PREFECTURE} (the options below override its fields)",
    )
    ap.add_argument("--counties", type=int, help="number of counties (default 4; 12 with --prefecture)")
    ap.add_argument("--townships", type=int, help="townships per county (default 5)")
    ap.add_argument("--villages", type=int, help="villages per township (default 6)")
    ap.add_argument("--outsiders", type=float, help="outsider households per registry household (default 0.6)")
    ap.add_argument(
        "--volume", type=float, help="agency volume multiplier, >= 1 (default 1; 5 ≈ 5 agency rows per registry person)"
    )
    ap.add_argument("--csv-only", action="store_true", help="write every extract as CSV (GB18030 / UTF-8 / UTF-8-BOM)")
    ap.add_argument(
        "--hard",
        action="store_true",
        help="the hard corruption profile (corruption.yaml `hard`): ~8%% blank IDs in civil_affairs and "
        "human_resources, name-only records, more Excel-mangled and numeric IDs, namesakes in "
        "village, township and county",
    )
    ap.add_argument("--rates", type=Path, help="YAML of corruption-rate overrides (corruption.yaml layout)")
    a = ap.parse_args(argv)
    omit = {tuple(x.split(":", 1)) for x in a.omit}
    shape = PREFECTURE if a.prefecture else Shape()
    over = {
        k: getattr(a, k)
        for k in ("counties", "townships", "villages", "outsiders", "volume")
        if getattr(a, k) is not None
    }
    shape = dataclasses.replace(shape, **over)
    s = generate(
        a.out,
        a.households,
        a.months,
        a.start,
        a.seed,
        a.params,
        omit=omit,
        shape=shape,
        csv_only=a.csv_only,
        hard=a.hard,
        rates=a.rates,
    )
    print(f"generated {len(s.months)} months into {s.inbox_dir} in {s.seconds:.1f}s")
    for mo in s.months:
        print(mo, {k: f"{v} ({s.formats[mo][k]})" for k, v in s.rows[mo].items()})
    print("truth flags per rule:", s.flags_per_rule)
    return 0
