"""Account scores by their two paths give the same rows.

``POST /score`` answers its accounts from :func:`mqlscore.accounts.account_records`
(plain dicts, from the request's columns, and plain Python for its handful of leads),
the account file from :func:`mqlscore.accounts.score_accounts` (a frame, pandas for
many leads). On the session's trained model: the records are the frame's rows, in its
order; and an account scored alone, from its own leads and activities as a request
carries them, gets exactly the row it gets among every open account of the export.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mqlscore.accounts import account_records, score_accounts
from mqlscore.accounts.members import SMALL
from mqlscore.contract import load_folder
from mqlscore.features import open_leads_at
from mqlscore.scoring import ScoringModel


@pytest.fixture(scope="module")
def model(account_model: ScoringModel) -> ScoringModel:
    """The session's trained model with its account scores (``conftest.account_model``)."""
    return account_model


@pytest.fixture(scope="module")
def dataset(demo_export: Path):
    return load_folder(demo_export)


@pytest.fixture(scope="module")
def scored(model: ScoringModel, dataset) -> pd.DataFrame:
    """The export's open leads scored as the account file scores them (with their log-odds alone)."""
    rows = open_leads_at(dataset.leads, dataset.outcomes, dataset.as_of)
    return model.score(dataset.leads, dataset.activities, rows, reasons=False, alone=True)


def _columns(scored: pd.DataFrame) -> dict:
    """Scored leads as the service hands them over: lists by column, the times as one index."""
    return {**{c: scored[c].tolist() for c in ("lead_id", "score", "log_odds", "alone_log_odds")},
            "as_of": pd.DatetimeIndex(scored["as_of"])}


@pytest.mark.parametrize("reasons", [True, False])
def test_records_are_the_rows_of_the_frame(model: ScoringModel, dataset, scored: pd.DataFrame,
                                           reasons: bool) -> None:
    frame = score_accounts(model, dataset.leads, dataset.activities, scored, reasons=reasons)
    assert len(frame) > 10
    from_frame = account_records(model, dataset.leads, dataset.activities, scored, reasons=reasons)
    from_columns = account_records(model, dataset.leads, dataset.activities, _columns(scored), reasons=reasons)
    assert from_frame == frame.to_dict("records")
    assert from_columns == from_frame
    assert [r["reasons"] is None for r in from_frame] == [not reasons] * len(from_frame)


def test_an_account_alone_gets_its_row_among_all(model: ScoringModel, dataset, scored: pd.DataFrame) -> None:
    together = score_accounts(model, dataset.leads, dataset.activities, scored)
    assert len(scored) > SMALL, "scoring every open lead at once takes the path for many rows"
    by_account = {r["account_id"]: r for r in together.to_dict("records")}
    account_of = dataset.leads.set_index("lead_id")["account_id"].astype(str).str.strip()
    members = scored[scored["lead_id"].map(account_of).isin(by_account)]
    # the accounts with the most leads, and a sample of the others
    sizes = members.groupby(members["lead_id"].map(account_of)).size().sort_values(ascending=False, kind="stable")
    picks = list(sizes.index[:5]) + list(np.random.default_rng(7).choice(sizes.index[5:], 25, replace=False))
    assert sizes.iloc[0] > 2, "some account has several open leads"
    for account in picks:
        ids = members["lead_id"][members["lead_id"].map(account_of) == account]
        # what a request for this account alone carries: its leads and their activities
        leads = dataset.leads[dataset.leads["lead_id"].isin(ids)]
        activities = dataset.activities[dataset.activities["lead_id"].isin(ids)]
        (alone,) = account_records(model, leads, activities, _columns(scored[scored["lead_id"].isin(ids)]))
        expected = by_account[account]
        # the account model's product of features by weights sums in another order for one row
        # than for thousands (the BLAS kernel differs): the probability may move in its last digit
        assert alone["probability"] == pytest.approx(expected["probability"], rel=1e-12, abs=0)
        assert {**alone, "probability": None} == {**expected, "probability": None}
