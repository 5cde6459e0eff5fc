"""The delivery contract (extracts.md) as data: one place that names every source,
its headers (Chinese and canonical English), and what the standardised table holds;
and the warehouse schema as read from its DDL.

Everything that reads a delivery, checks it or writes it to the warehouse takes
its column lists from here: std.<source> columns from SOURCES (std_columns /
std_ddl), every other table's columns and polars dtypes from sql/schema/*.sql
(polars_schema). flag_id is the SQL macro flags.flag_id (sql/schema/35_flag_id.sql).
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

REGISTRY = "registry"
CIVIL_AFFAIRS = "civil_affairs"
HEALTH_INSURANCE = "health_insurance"
HUMAN_RESOURCES = "human_resources"
RURAL_REVITALIZATION = "rural_revitalization"
DISPOSITIONS = "dispositions"

# The five monthly extracts; dispositions is optional and comes from caseworkers.
EXTRACT_SOURCES = (REGISTRY, CIVIL_AFFAIRS, HEALTH_INSURANCE, HUMAN_RESOURCES, RURAL_REVITALIZATION)
AGENCY_SOURCES = (CIVIL_AFFAIRS, HEALTH_INSURANCE, HUMAN_RESOURCES, RURAL_REVITALIZATION)
ALL_SOURCES = EXTRACT_SOURCES + (DISPOSITIONS,)

SOURCE_LABELS = {
    REGISTRY: "低收入人口数据库（民政）",
    CIVIL_AFFAIRS: "民政事件",
    HEALTH_INSURANCE: "医保结算",
    HUMAN_RESOURCES: "人社记录",
    RURAL_REVITALIZATION: "乡村振兴防返贫监测",
    DISPOSITIONS: "处置反馈",
}


@dataclass(frozen=True)
class Column:
    """One delivered column.

    kind tells the standardiser how to parse it:
      text, id_number, name, date, money, integer, region (12-digit village code
      or 6-digit county code), sex, category, disability_grade, yes_no, enum.
    required_column: a file without this header is rejected whole.
    required_value: a row whose value cannot be parsed is quarantined.
    """

    canonical: str
    chinese: str
    kind: str = "text"
    required_column: bool = True
    required_value: bool = False
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceSpec:
    name: str
    columns: tuple[Column, ...]
    # Sources whose records are linked to registry persons.
    linked: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def header_map(self) -> dict[str, str]:
        """Delivered header (Chinese or canonical) -> canonical name."""
        mapping = {}
        for c in self.columns:
            mapping[c.chinese] = c.canonical
            mapping[c.canonical] = c.canonical
        return mapping

    def column(self, canonical: str) -> Column:
        return next(c for c in self.columns if c.canonical == canonical)


RELATIONS = ("户主", "配偶", "子女", "父母", "孙子女", "兄弟姐妹", "其他")
CATEGORIES = ("低保", "特困", "低保边缘", "支出型困难", "防返贫监测", "其他")
DISABILITY_TYPES = ("视力", "听力", "言语", "肢体", "智力", "精神", "多重")
CIVIL_EVENT_TYPES = ("低保金发放", "特困供养金发放", "临时救助", "低保停发", "特困终止", "死亡火化", "受灾救助")
VISIT_TYPES = ("住院", "门诊慢特病", "普通门诊")
HR_RECORD_TYPES = ("失业登记", "就业登记", "社保缴费", "养老金发放", "公益性岗位")
MONITOR_TYPES = ("脱贫不稳定户", "边缘易致贫户", "突发严重困难户")
RISK_TYPES = ("因病", "因残", "因学", "因灾", "因意外事故", "因务工就业不稳", "因产业项目失败", "其他")
DISPOSITION_VALUES = ("已核实待救助", "已纳入救助", "核实不符", "无法联系")

_ID = Column("id_number", "身份证号", "id_number")

SOURCES: dict[str, SourceSpec] = {
    REGISTRY: SourceSpec(
        REGISTRY,
        (
            Column("household_id", "户编号", "text", required_value=True),
            Column("name", "姓名", "name", required_value=True),
            _ID,
            Column("sex", "性别", "sex"),
            Column("birth_date", "出生日期", "date"),
            Column("relation", "与户主关系", "enum", allowed=RELATIONS),
            Column("region_code", "行政区划代码", "region", required_value=True),
            Column("urban_rural", "城乡类型", "enum", allowed=("城市", "农村")),
            Column("category", "救助类别", "category", allowed=CATEGORIES),
            Column("household_size", "家庭人口数", "integer"),
            Column("household_annual_income", "家庭年收入", "money"),
            Column("disability_grade", "残疾等级", "disability_grade", required_column=False),
            Column("disability_type", "残疾类别", "enum", required_column=False, allowed=DISABILITY_TYPES),
            Column("enrolled_on", "纳入日期", "date", required_column=False),
            Column("phone", "联系电话", "text", required_column=False),
        ),
        linked=False,
    ),
    CIVIL_AFFAIRS: SourceSpec(
        CIVIL_AFFAIRS,
        (
            Column("name", "姓名", "name", required_value=True),
            _ID,
            Column("region_code", "行政区划代码", "region"),
            Column("event_type", "事件类型", "enum", required_value=True, allowed=CIVIL_EVENT_TYPES),
            Column("amount", "金额", "money"),
            Column("event_date", "发生日期", "date", required_value=True),
        ),
    ),
    HEALTH_INSURANCE: SourceSpec(
        HEALTH_INSURANCE,
        (
            Column("name", "姓名", "name", required_value=True),
            _ID,
            Column("sex", "性别", "sex"),
            Column("birth_date", "出生日期", "date"),
            Column("insured_region", "参保地", "region"),
            Column("visit_type", "就诊类型", "enum", allowed=VISIT_TYPES),
            Column("settled_on", "结算日期", "date", required_value=True),
            Column("provider", "医疗机构", "text", required_column=False),
            Column("diagnosis_icd10", "主诊断编码", "icd10"),
            Column("total_cost", "医疗总费用", "money"),
            Column("basic_paid", "基本医保支付", "money"),
            Column("critical_illness_paid", "大病保险支付", "money"),
            Column("assistance_paid", "医疗救助支付", "money"),
            Column("out_of_pocket", "个人自付", "money", required_value=True),
        ),
    ),
    HUMAN_RESOURCES: SourceSpec(
        HUMAN_RESOURCES,
        (
            Column("name", "姓名", "name", required_value=True),
            _ID,
            Column("record_type", "记录类型", "enum", required_value=True, allowed=HR_RECORD_TYPES),
            Column("employer", "单位名称", "text", required_column=False),
            Column("monthly_wage", "月工资", "money"),
            Column("amount", "金额", "money"),
            Column("start_date", "开始日期", "date"),
            Column("end_date", "结束日期", "date"),
        ),
    ),
    RURAL_REVITALIZATION: SourceSpec(
        RURAL_REVITALIZATION,
        (
            Column("rr_household_id", "监测户编号", "text", required_value=True),
            Column("name", "姓名", "name", required_value=True),
            _ID,
            Column("relation", "与户主关系", "enum", allowed=RELATIONS),
            Column("region_code", "行政区划代码", "region"),
            Column("monitor_type", "监测对象类型", "enum", allowed=MONITOR_TYPES),
            Column("risk_type", "风险类型", "enum", allowed=RISK_TYPES),
            Column("per_capita_net_income", "家庭人均纯收入", "money"),
            Column("risk_cleared", "风险消除", "yes_no", required_value=True),
            Column("identified_on", "识别日期", "date"),
        ),
    ),
    DISPOSITIONS: SourceSpec(
        DISPOSITIONS,
        (
            Column("flag_id", "标记编号", "text", required_value=True),
            Column("disposition", "处置结果", "enum", allowed=DISPOSITION_VALUES),  # blank = not handled yet
            Column("disposed_on", "处置日期", "date"),
            Column("handled_by", "经办人", "text", required_column=False),
            Column("note", "备注", "text", required_column=False),
        ),
        linked=False,
    ),
}

PROVENANCE_COLUMNS = ("month", "source", "source_file", "source_row")

# How each column kind expands in the standardised table, with DuckDB types.
_KIND_COLUMNS = {
    "id_number": lambda c: [
        ("id_number", "VARCHAR"),
        ("id_number_raw", "VARCHAR"),
        ("id_invalid_reason", "VARCHAR"),
        ("id_birth_date", "DATE"),
        ("id_sex", "VARCHAR"),
    ],
    "name": lambda c: [("name", "VARCHAR"), ("name_raw", "VARCHAR"), ("name_pinyin", "VARCHAR")],
    "date": lambda c: [(c.canonical, "DATE")],
    "money": lambda c: [(c.canonical, "DOUBLE")],
    "integer": lambda c: [(c.canonical, "INTEGER")],
    "disability_grade": lambda c: [(c.canonical, "INTEGER")],
    "yes_no": lambda c: [(c.canonical, "BOOLEAN")],
}


def _region_columns(c: Column) -> list[tuple[str, str]]:
    if c.canonical == "region_code":
        return [
            ("region_code", "VARCHAR"),
            ("county_code", "VARCHAR"),
            ("township_code", "VARCHAR"),
            ("village_code", "VARCHAR"),
        ]
    return [(c.canonical, "VARCHAR"), ("county_code", "VARCHAR")]


def std_columns(source: str) -> list[tuple[str, str]]:
    """(column, DuckDB type) of std.<source>, provenance first."""
    cols = [("month", "DATE"), ("source", "VARCHAR"), ("source_file", "VARCHAR"), ("source_row", "INTEGER")]
    for c in SOURCES[source].columns:
        if c.kind == "region":
            cols += _region_columns(c)
        else:
            cols += _KIND_COLUMNS.get(c.kind, lambda c: [(c.canonical, "VARCHAR")])(c)
    if source == REGISTRY:
        cols.append(("person_key", "VARCHAR"))
    return cols


def std_ddl() -> str:
    """CREATE TABLE statements for every std.<source> table."""
    statements = ["CREATE SCHEMA IF NOT EXISTS std;"]
    for source in ALL_SOURCES:
        body = ",\n    ".join(f'"{name}" {typ}' for name, typ in std_columns(source))
        statements.append(f"CREATE TABLE IF NOT EXISTS std.{source} (\n    {body}\n);")
    return "\n".join(statements)


# --- the warehouse DDL, and what is derived from it ------------------------------------
#
# sql/schema/*.sql is the one source of every warehouse table except std.<source>, whose
# DDL std_ddl() writes from SOURCES above (the delivery contract). The polars dtypes of
# those tables are read back from that DDL (polars_schema), never written a second time;
# flag_id is the macro flags.flag_id in sql/schema/35_flag_id.sql (flag_id below runs it).
# See sql/schema/README.md.

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "sql" / "schema"


@functools.cache
def schema_sql(schema_dir: Path = SCHEMA_DIR) -> str:
    """All DDL: sql/schema/*.sql in name order, then the std tables from std_ddl()."""
    parts = [p.read_text(encoding="utf-8") for p in sorted(Path(schema_dir).glob("*.sql"))]
    return "\n".join(parts + [std_ddl()])


_ddl_lock = threading.Lock()


@functools.cache
def _ddl_connection(schema_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding the empty tables and macros of the DDL (built once)."""
    con = duckdb.connect()
    con.execute(schema_sql(schema_dir))
    return con


@functools.cache
def _table_schemas(schema_dir: Path) -> dict[str, pl.Schema]:
    with _ddl_lock:
        con = _ddl_connection(schema_dir)
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY ALL"
        ).fetchall()
        # DuckDB's own Arrow export maps its types to polars (INTEGER -> Int32, VARCHAR[] -> List(String), ...).
        return {f"{s}.{t}": con.sql(f'SELECT * FROM "{s}"."{t}" LIMIT 0').pl().schema for s, t in tables}


def table_names(schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Every warehouse table, as "schema.table"."""
    return list(_table_schemas(Path(schema_dir)))


def polars_schema(table: str, schema_dir: Path = SCHEMA_DIR) -> dict[str, pl.DataType]:
    """{column: polars dtype} of a warehouse table ("ops.quarantine", "std.civil_affairs"),
    in table order, as the DDL declares it."""
    schemas = _table_schemas(Path(schema_dir))
    if table not in schemas:
        raise KeyError(f"no table {table} in the DDL under {schema_dir}")
    return dict(schemas[table])


def flag_id(month: dt.date, rule_code: str, household_key: str) -> str:
    """The flag's ID, by the warehouse macro flags.flag_id (the one definition, used by
    the lifecycle SQL): the same for the same (month, household, rule)."""
    with _ddl_lock:
        rows = (
            _ddl_connection(SCHEMA_DIR)
            .execute("SELECT flags.flag_id(?, ?, ?)", [month, rule_code, household_key])
            .fetchall()
        )
    return rows[0][0]
