"""`lowincome run` as cron and operators see it: exit codes (outputs.md), one-line
errors, progress per step and the closing summary."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from data_samples.generate import generate
from pipelines.cli import EXIT_FAILED, EXIT_NO_DELIVERY, EXIT_OK, EXIT_WITHHELD, main

PARAMS = Path(__file__).resolve().parent.parent / "data_samples" / "params.yaml"


@pytest.fixture(scope="module")
def delivery(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    generate(root, households=150, months=1, start_month="2026-07", seed=11)
    return root


def _args(root: Path, name: str, month: str = "2026-07", **over) -> list[str]:
    opts = {
        "inbox": str(root / "inbox"),
        "warehouse": str(root / f"{name}.duckdb"),
        "exports": str(root / f"{name}_exports"),
        "params": str(PARAMS),
        **over,
    }
    return ["run", "--month", month] + [x for k, v in opts.items() for x in (f"--{k}", v)]


@pytest.mark.parametrize("month", ["2026-08-99", "2030-01"])
def test_bad_or_out_of_range_month_is_one_line_exit_2(delivery, month):
    """Run as a process: nothing but one line on stderr, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *_args(delivery, "bad", month)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == EXIT_NO_DELIVERY
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and month in lines[0]


@pytest.mark.parametrize("month", ["2026-13", "26-08", "2026/08", "2019-12", "2026-00"])
def test_every_bad_month_form_exits_2(delivery, month, capsys):
    assert main(_args(delivery, "bad", month)) == EXIT_NO_DELIVERY
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.strip().splitlines()) == 1 and month in out.err


def test_missing_delivery_exits_2(delivery, capsys):
    assert main(_args(delivery, "none", "2026-06")) == EXIT_NO_DELIVERY
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2026-06" in err[0] and "no delivery" in err[0]


@pytest.mark.slow
def test_published_month_exits_0_with_progress_and_summary(delivery, capfd):
    assert main(_args(delivery, "ok")) == EXIT_OK
    out = capfd.readouterr()
    text = out.out + out.err
    # progress per step at the default level: rows and seconds
    assert "std/registry 2026-07: loaded, read" in text and "linkage/health_insurance 2026-07:" in text
    assert " s" in text.split("std/registry 2026-07:")[1].splitlines()[0]
    summary = out.out[out.out.index("2026-07: published") :]
    assert "flags per rule" in summary and "review backlog:" in summary
    assert "R01 " in summary and "total:" in summary
    exports = delivery / "ok_exports" / "2026-07"
    assert str(exports / "dq") in summary and "汇总表.xlsx" in summary
    assert all(p.name in summary for p in exports.glob("*.xlsx"))


@pytest.mark.slow
def test_withheld_month_exits_3_with_reason(delivery, tmp_path, capfd):
    inbox = tmp_path / "inbox"
    shutil.copytree(delivery / "inbox" / "2026-07", inbox / "2026-07")
    registry = next((inbox / "2026-07").glob("registry.*"))
    with registry.open("ab") as f:  # no longer matches its manifest: a critical finding
        f.write(b"\n")
    assert main(_args(delivery, "withheld", inbox=str(inbox))) == EXIT_WITHHELD
    err = [line for line in capfd.readouterr().err.splitlines() if line.startswith("2026-07: flags withheld")]
    assert len(err) == 1 and "低收入人口数据库" in err[0]


def test_unreadable_params_refused_before_the_run_exit_2(delivery, tmp_path, capfd):
    assert main(_args(delivery, "noparams", params=str(tmp_path / "no_such_params.yaml"))) == EXIT_NO_DELIVERY
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "refused" in err[0] and "参数" in err[0] and "no_such_params.yaml" in err[0]
    assert not (delivery / "noparams.duckdb").exists()  # nothing written


@pytest.mark.slow
def test_failed_step_exits_1(delivery, capfd, monkeypatch):
    from lowincome import monthly

    def broken(*args, **kwargs):
        raise RuntimeError("rule engine broke")

    monkeypatch.setattr(monthly, "evaluate_rules", broken)
    assert main(_args(delivery, "failed")) == EXIT_FAILED
    err = [line for line in capfd.readouterr().err.splitlines() if "FAILED" in line]
    assert len(err) == 1 and "flags__risk_flags" in err[0]
