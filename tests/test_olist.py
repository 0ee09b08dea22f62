"""The real Olist marketing funnel trains end to end, with no closed-deal column as a feature;
joined onto the leads as a CRM export would hold them, the leak guard stops every closed-deal column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore.config import Settings, TrainConfig
from mqlscore.contract import validate_tables
from mqlscore.importer import import_tables
from mqlscore.leakguard import LeakingColumns
from mqlscore.reporting import write_report
from mqlscore.training import train

CLOSED_DEAL_COLUMNS = ("seller_id", "sdr_id", "sr_id", "won_date", "business_segment", "lead_type",
                       "lead_behaviour_profile", "has_company", "has_gtin", "average_stock", "business_type",
                       "declared_product_catalog_size", "declared_monthly_revenue")


@pytest.fixture(scope="module")
def olist(shared_datasets: Path):
    source = shared_datasets / "olist_marketing_funnel"
    if not source.is_dir():
        pytest.skip("Olist marketing funnel not found")
    return validate_tables(import_tables("olist", source), lenient=True)


def test_olist_trains_without_any_closed_deal_column(olist, tmp_path: Path) -> None:
    assert len(olist.leads) == 7_999 and olist.outcomes["sql_at"].notna().sum() == 841
    settings = Settings(train=TrainConfig(estimate_half_lives=False))
    result = train(olist, settings)
    write_report(result, None, tmp_path / "report")
    names = result.scoring_model.builder.feature_names_
    for column in CLOSED_DEAL_COLUMNS:
        assert not any(column in name for name in names), column
    assert result.scoring_model.builder.extras_ == {"landing_page_id": "categorical"}
    metrics = result.metrics()[result.champion]
    assert np.isfinite(metrics["roc_auc"]) and 0.5 < metrics["roc_auc"] < 0.9
    assert (tmp_path / "report" / "model_card.md").exists()
    # scoring open leads works on data without any activities
    rows = pd.DataFrame({"lead_id": olist.leads["lead_id"].head(50), "as_of": olist.as_of})
    scored = result.scoring_model.score(olist.leads, olist.activities, rows)
    assert scored["score"].between(0, 100).all()


@pytest.fixture(scope="module")
def olist_with_deal_columns(shared_datasets: Path):
    """The raw files through the ``olist_raw`` mapping, with every closed-deal column joined onto
    its lead: an export that keeps what sales recorded after the deal was won."""
    raw = shared_datasets / "olist_marketing_funnel" / "raw"
    if not raw.is_dir():
        pytest.skip("Olist marketing funnel (raw) not found")
    tables = import_tables("olist_raw", raw)
    deals = pd.read_csv(raw / "olist_closed_deals_dataset.csv", dtype=str, encoding="utf-8-sig")
    tables["leads"] = tables["leads"].merge(deals.rename(columns={"mql_id": "lead_id"}), on="lead_id", how="left")
    return validate_tables(tables, lenient=True)


def test_the_leak_guard_stops_every_closed_deal_column(olist_with_deal_columns) -> None:
    settings = Settings(train=TrainConfig(estimate_half_lives=False))
    with pytest.raises(LeakingColumns) as info:
        train(olist_with_deal_columns, settings)
    report = info.value.report
    assert {c.column: c.decision for c in report.columns} == {
        "landing_page_id": "kept", **dict.fromkeys(CLOSED_DEAL_COLUMNS, "stopped")}
    message = str(info.value)
    assert f"Training stopped: {len(CLOSED_DEAL_COLUMNS)} column(s)" in message
    assert all(f"- '{column}':" in message for column in CLOSED_DEAL_COLUMNS)
    by_name = {c.column: c for c in report.columns}
    # filled exactly for the won leads: the outcome itself
    for column in ("seller_id", "sdr_id", "sr_id", "won_date", "declared_monthly_revenue"):
        assert by_name[column].equals_outcome == "being filled", column
        assert by_name[column].auc > 0.95, column
    # filled for a few won leads only: no separation, but never filled while a lead is open
    for column in ("has_company", "has_gtin", "average_stock", "declared_product_catalog_size"):
        evidence = by_name[column]
        assert evidence.auc < 0.6 and evidence.filled_open == 0.0 and 0.05 < evidence.filled_closed < 0.15
        assert any("it is filled once a lead is closed" in e for e in evidence.evidence), column
    assert by_name["landing_page_id"].auc < 0.8 and by_name["landing_page_id"].evidence == ()
