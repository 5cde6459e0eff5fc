"""The warehouse's DuckDB connections run under a fixed memory limit, not DuckDB's default
(80% of the machine), which let the rules step hold 5.7 GiB at a prefecture with two years of
history (4.2 GiB with the limit; lowincome/warehouse.py)."""

import duckdb

from assets.resources import MonitorConfig
from lowincome.warehouse import DEFAULT_MEMORY_LIMIT, Warehouse


def _limit_of(config: dict | None = None) -> str:
    con = duckdb.connect(config=config or {})
    try:
        return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        con.close()


def _warehouse_limits(wh: Warehouse) -> tuple[str, str]:
    with wh.writer() as con:
        writer = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    with wh.reader() as con:
        reader = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    return writer, reader


def test_writer_and_reader_take_the_default_limit_not_duckdbs(tmp_path):
    expected = _limit_of({"memory_limit": DEFAULT_MEMORY_LIMIT})
    assert expected != _limit_of()  # DuckDB's own default is a share of the machine's memory
    assert _warehouse_limits(Warehouse(tmp_path / "w.duckdb")) == (expected, expected)


def test_the_limit_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MONITOR_DUCKDB_MEMORY_LIMIT", "1GB")
    assert MonitorConfig.from_env().duckdb_memory_limit == "1GB"
    config = MonitorConfig(
        inbox=str(tmp_path),
        warehouse=str(tmp_path / "w.duckdb"),
        exports=str(tmp_path),
        params="",
        duckdb_memory_limit="1GB",
    )
    expected = _limit_of({"memory_limit": "1GB"})
    assert _warehouse_limits(config.open_warehouse()) == (expected, expected)
