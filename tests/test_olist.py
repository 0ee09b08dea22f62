"""The real Olist marketing funnel trains end to end, with no closed-deal column as a feature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore.config import Settings, TrainConfig
from mqlscore.contract import validate_tables
from mqlscore.importer import import_tables
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
