from assets.flags import risk_flags
from assets.ingestion import ingestion_assets
from assets.linkage import linkage_assets
from assets.preflight import month_preflight
from assets.reports import caseworker_workbooks, quality_report

all_assets = [month_preflight, *ingestion_assets, *linkage_assets, risk_flags, caseworker_workbooks, quality_report]
