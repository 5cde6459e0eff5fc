"""What the agencies deliver, as the generator models it (shared/spec/extracts.md): the
sources, the columns of each file (canonical English name and the Chinese header the
agency writes) and the values of the coded fields.

This is the agencies' format, not the pipeline's: the generator owns its copy so that it
depends on nothing of the project (tests/test_generator.py checks it against the
pipeline's reading of the same contract).
"""

from __future__ import annotations

REGISTRY = "registry"
CIVIL_AFFAIRS = "civil_affairs"
HEALTH_INSURANCE = "health_insurance"
HUMAN_RESOURCES = "human_resources"
RURAL_REVITALIZATION = "rural_revitalization"
DISPOSITIONS = "dispositions"

# The five monthly extracts; dispositions come from caseworkers, in the last month only.
EXTRACT_SOURCES = (REGISTRY, CIVIL_AFFAIRS, HEALTH_INSURANCE, HUMAN_RESOURCES, RURAL_REVITALIZATION)
AGENCY_SOURCES = (CIVIL_AFFAIRS, HEALTH_INSURANCE, HUMAN_RESOURCES, RURAL_REVITALIZATION)

# source -> canonical column -> Chinese header, in the order of extracts.md
HEADERS: dict[str, dict[str, str]] = {
    REGISTRY: {
        "household_id": "户编号",
        "name": "姓名",
        "id_number": "身份证号",
        "sex": "性别",
        "birth_date": "出生日期",
        "relation": "与户主关系",
        "region_code": "行政区划代码",
        "urban_rural": "城乡类型",
        "category": "救助类别",
        "household_size": "家庭人口数",
        "household_annual_income": "家庭年收入",
        "disability_grade": "残疾等级",
        "disability_type": "残疾类别",
        "enrolled_on": "纳入日期",
        "phone": "联系电话",
    },
    CIVIL_AFFAIRS: {
        "name": "姓名",
        "id_number": "身份证号",
        "region_code": "行政区划代码",
        "event_type": "事件类型",
        "amount": "金额",
        "event_date": "发生日期",
    },
    HEALTH_INSURANCE: {
        "name": "姓名",
        "id_number": "身份证号",
        "sex": "性别",
        "birth_date": "出生日期",
        "insured_region": "参保地",
        "visit_type": "就诊类型",
        "settled_on": "结算日期",
        "provider": "医疗机构",
        "diagnosis_icd10": "主诊断编码",
        "total_cost": "医疗总费用",
        "basic_paid": "基本医保支付",
        "critical_illness_paid": "大病保险支付",
        "assistance_paid": "医疗救助支付",
        "out_of_pocket": "个人自付",
    },
    HUMAN_RESOURCES: {
        "name": "姓名",
        "id_number": "身份证号",
        "record_type": "记录类型",
        "employer": "单位名称",
        "monthly_wage": "月工资",
        "amount": "金额",
        "start_date": "开始日期",
        "end_date": "结束日期",
    },
    RURAL_REVITALIZATION: {
        "rr_household_id": "监测户编号",
        "name": "姓名",
        "id_number": "身份证号",
        "relation": "与户主关系",
        "region_code": "行政区划代码",
        "monitor_type": "监测对象类型",
        "risk_type": "风险类型",
        "per_capita_net_income": "家庭人均纯收入",
        "risk_cleared": "风险消除",
        "identified_on": "识别日期",
    },
    DISPOSITIONS: {
        "flag_id": "标记编号",
        "disposition": "处置结果",
        "disposed_on": "处置日期",
        "handled_by": "经办人",
        "note": "备注",
    },
}

# Coded values (the order matters: the seeded draws index into these tuples)
CATEGORIES = ("低保", "特困", "低保边缘", "支出型困难", "防返贫监测", "其他")
DISABILITY_TYPES = ("视力", "听力", "言语", "肢体", "智力", "精神", "多重")
MONITOR_TYPES = ("脱贫不稳定户", "边缘易致贫户", "突发严重困难户")
RISK_TYPES = ("因病", "因残", "因学", "因灾", "因意外事故", "因务工就业不稳", "因产业项目失败", "其他")


def chinese_header(source: str, canonical: str) -> str:
    """The Chinese header an agency writes for a column (the canonical name when it has none)."""
    return HEADERS[source].get(canonical, canonical)
