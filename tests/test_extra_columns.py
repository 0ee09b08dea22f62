"""Generic CRM columns as features (issue 12): a number's reason says where it stands
in the training data, a category reads as the data spells it, personal columns are
never features, and ``features.intent_columns`` makes engagement columns intent."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mqlscore.config import FeatureConfig, ScoringConfig, Settings
from mqlscore.explain import describe, number_text, reasons_for, reasons_text
from mqlscore.features import FeatureBuilder
from mqlscore.features.fit import quantiles
from mqlscore.features.registry import ColumnFacts
from mqlscore.models.calibration import PlattCalibrator
from mqlscore.models.scorecard import Scorecard
from mqlscore.reporting import fit_intent_share
from mqlscore.scoring import ScoreScale, ScoringModel

T0 = pd.Timestamp("2025-06-01 12:00", tz="UTC")
TIME = "Total Time Spent on Website"
ORIGIN = "Lead Origin"
NO_ACTS = pd.DataFrame({"lead_id": pd.Series(dtype=str), "occurred_at": pd.Series(dtype="datetime64[us, UTC]"),
                        "activity_type": pd.Series(dtype=str)})
PERSONAL = {"Phone Number": lambda i: 2_000_000_000 + 7919 * i, "Email Address": lambda i: f"p{i}@clinic{i}.org",
            "E-mail": lambda i: f"q{i}@gmail.com", "First Name": lambda i: f"Name{i % 40}",
            "LinkedIn URL": lambda i: f"https://linkedin.com/in/p{i}", "Title": lambda i: ["CMIO", "CFO"][i % 2],
            "Work Phone": lambda i: f"+1 617 555 {i:04d}"}


def crm_leads(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Leads as a CRM exports them: minutes on site 0..n-1 (shuffled), an origin in
    the CRM's own spelling (one value rare, some missing), a yes/no flag, a lead
    source under a CRM's spelling, and personal columns under CRM spellings."""
    rng = np.random.default_rng(seed)
    origin = rng.choice(np.array(["Landing Page Submission", "API", "Lead Add Form"], dtype=object), n)
    origin[:5] = "Quick Add Form"  # fewer than min_category_count: grouped into "other"
    origin[5:45] = None
    frame = pd.DataFrame({
        "lead_id": [f"L{i:04d}" for i in range(n)], "created_at": T0 - pd.Timedelta(days=30),
        TIME: rng.permutation(np.arange(n)).astype(float), ORIGIN: origin,
        "Do Not Email": np.where(np.arange(n) % 9 == 0, "Yes", "No"),
        "Lead Source": rng.choice(["Google", "Direct Traffic", "Olark Chat"], n),
    })
    for column, make in PERSONAL.items():
        frame[column] = [make(i) for i in range(n)]
    return frame


def one_lead_frame(builder: FeatureBuilder, **values: object) -> pd.DataFrame:
    """The features of one made-up lead with the given extra column values."""
    lead = pd.DataFrame([{"lead_id": "X", "created_at": T0 - pd.Timedelta(days=3), **values}])
    return builder.transform(lead, NO_ACTS, pd.DataFrame({"lead_id": ["X"], "as_of": [T0]}))


def reason(builder: FeatureBuilder, signal: str, **values: object) -> str:
    """The reason a rep reads about ``signal`` of a lead with ``values``, as scoring makes it."""
    X = one_lead_frame(builder, **values)
    items = reasons_for(np.array([[4.0]]), [signal], ["fit"], X, top=5, facts=builder.column_facts())
    return items[0][0]["text"]


@pytest.fixture(scope="module")
def builder() -> FeatureBuilder:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean fit warns about nothing
        return FeatureBuilder().fit(crm_leads(), NO_ACTS)


# ---------------------------------------------------------------- numbers in context


@pytest.mark.parametrize(("minutes", "expected"), [
    (995.0, f"{TIME}: 995 — high for this data set (top 1 %)"),
    (960.0, f"{TIME}: 960 — high for this data set (top 5 %)"),
    (920.0, f"{TIME}: 920 — high for this data set (top 10 %)"),
    (800.0, f"{TIME}: 800 — on the high side for this data set (top 25 %)"),
    (705.0, f"{TIME}: 705 — typical for this data set"),
    (120.0, f"{TIME}: 120 — on the low side for this data set (bottom 25 %)"),
    (5.0, f"{TIME}: 5 — low for this data set (bottom 1 %)"),
    (12_500.0, f"{TIME}: 12,500 — high for this data set (top 1 %)"),
    (402.5, f"{TIME}: 402.5 — typical for this data set"),
    (None, f"{TIME}: not given"),
])
def test_a_number_reads_against_the_training_data(builder: FeatureBuilder, minutes: object, expected: str) -> None:
    # Was "Total Time Spent on Website: 705.0": a number with no idea of what is usual.
    assert reason(builder, f"extra:{TIME}", **{TIME: minutes}) == expected


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.integers(-50, 50), st.floats(-1e6, 1e6, width=32)), min_size=1, max_size=200),
       probe=st.one_of(st.integers(-60, 60), st.floats(-2e6, 2e6, width=32)))
def test_the_context_phrase_is_true_of_the_training_data(values: list[float], probe: float) -> None:
    """Whatever the data (ties, one value, negative numbers), "top N %" means at most N %
    of the fitted leads had this value or more, "bottom N %" fewer than N % had it or
    less, and "typical" that neither holds at 25 %."""
    data = np.asarray(values, dtype=np.float32)
    v = float(np.float32(probe))
    facts = ColumnFacts(quantiles(data))
    text = describe("extra:x", pd.Series({"extra__x": np.float32(v)}, dtype=object), facts)
    at_least, at_most = float((data >= v).mean()), float((data <= v).mean())
    top, bottom = re.search(r"\(top (\d+) %\)", text), re.search(r"\(bottom (\d+) %\)", text)
    if top:
        assert at_least <= int(top.group(1)) / 100
    elif bottom:
        assert at_most < int(bottom.group(1)) / 100
    else:
        assert text.endswith("typical for this data set")
        assert at_least > 0.25 and at_most >= 0.25


@pytest.mark.parametrize(("value", "expected"), [
    (705.0, "705"), (np.float32(1295.0), "1,295"), (2.5, "2.5"), (0.25, "0.25"), (np.float32(0.1), "0.1"),
    (1234.5678, "1,234.6"), (12.345, "12.35"), (-0.0, "0"), (-3.0, "-3"), (0.0031, "0.0031"),
    (float(np.float32(2_222_191_316)), "2,222,191,000"),  # no digits a float32 feature does not hold
    (1e20, "1e+20"), (float("inf"), "infinite"),
])
def test_numbers_read_as_people_write_them(value: float, expected: str) -> None:
    assert number_text(float(value)) == expected


# ------------------------------------------------------------- categories in words


@pytest.mark.parametrize(("origin", "expected"), [
    ("API", f"{ORIGIN}: API"),  # was "Lead Origin: api"
    ("  landing page SUBMISSION ", f"{ORIGIN}: Landing Page Submission"),  # the data's own spelling
    ("Lead Add Form", f"{ORIGIN}: Lead Add Form"),
    ("Quick Add Form", f"{ORIGIN}: a less common value"),  # was "Lead Origin: other"
    ("Brand New Channel", f"{ORIGIN}: a less common value"),
    (None, f"{ORIGIN}: not given"),
    ("", f"{ORIGIN}: not given"),
])
def test_a_category_reads_as_the_data_spells_it(builder: FeatureBuilder, origin: object, expected: str) -> None:
    assert reason(builder, f"extra:{ORIGIN}", **{ORIGIN: origin}) == expected


def test_a_yes_no_column_and_a_crm_spelling_of_a_contract_field_stay_features(builder: FeatureBuilder) -> None:
    assert builder.extras_ == {TIME: "numeric", ORIGIN: "categorical", "Do Not Email": "categorical",
                               "Lead Source": "categorical"}
    assert reason(builder, "extra:Do Not Email", **{"Do Not Email": "yes"}) == "Do Not Email: Yes"
    assert reason(builder, "extra:Lead Source", **{"Lead Source": "olark chat"}) == "Lead Source: Olark Chat"


# ------------------------------------------------------------------- saved builders


def test_the_context_is_saved_with_the_feature_definition(builder: FeatureBuilder) -> None:
    restored = FeatureBuilder.from_dict(json.loads(json.dumps(builder.to_dict())))
    assert restored.column_facts() == builder.column_facts()
    assert reason(restored, f"extra:{TIME}", **{TIME: 995.0}) == f"{TIME}: 995 — high for this data set (top 1 %)"
    assert reason(restored, f"extra:{ORIGIN}", **{ORIGIN: "API"}) == f"{ORIGIN}: API"


def test_a_builder_saved_before_the_context_was_kept_still_loads_and_explains(builder: FeatureBuilder) -> None:
    old = builder.to_dict()
    del old["extra_quantiles"], old["extra_labels"]
    restored = FeatureBuilder.from_dict(json.loads(json.dumps(old)))
    assert restored.feature_names_ == builder.feature_names_
    pd.testing.assert_frame_equal(one_lead_frame(restored, **{TIME: 995.0, ORIGIN: "API"}),
                                  one_lead_frame(builder, **{TIME: 995.0, ORIGIN: "API"}))
    assert reason(restored, f"extra:{TIME}", **{TIME: 995.0}) == f"{TIME}: 995"  # no context, still readable
    assert reason(restored, f"extra:{ORIGIN}", **{ORIGIN: "API"}) == f"{ORIGIN}: api"


# ------------------------------------------------------------------- personal data


def test_personal_columns_under_crm_spellings_are_never_features(builder: FeatureBuilder) -> None:
    # "Phone Number" and "Email Address" once became features (only exact contract names were left out),
    # and a reason read "Phone Number: 2.222191e+09".
    saved = json.dumps(builder.to_dict())
    leads = crm_leads()
    for column in PERSONAL:
        assert column not in builder.extras_ and column not in saved
        for value in leads[column].head(50).astype(str):
            assert value not in saved


def test_a_personal_column_of_an_older_model_is_never_said() -> None:
    row = pd.Series({"extra__phone_number": np.float32(6175551234), "extra__e_mail": "ada@mercy.org"}, dtype=object)
    for signal in ("extra:Phone Number", "extra:E-mail"):
        text = describe(signal, row, ColumnFacts({0.5: 1.0}, {"ada@mercy.org": "ada@mercy.org"}))
        assert "617" not in text and "ada" not in text and "mercy" not in text


# ------------------------------------------------------------ engagement columns


def test_intent_columns_are_matched_like_exclude_columns_and_unmatched_names_warn() -> None:
    config = FeatureConfig(intent_columns=(" total_time spent-on WEBSITE ", "Time on Site", "email"))
    with pytest.warns(UserWarning) as caught:
        b = FeatureBuilder(config).fit(crm_leads(), NO_ACTS)
    groups = {s.signal: s.group for s in b.specs_}
    assert groups[f"extra:{TIME}"] == "intent" and groups[f"extra:{ORIGIN}"] == "fit"
    assert TIME in b.extras_  # still an extra column: the leak guard measures it like the others
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert messages[0].startswith("features.intent_columns: 'Time on Site' matches no lead column")
    assert messages[1].startswith("features.intent_columns: 'email' names a column that is not an extra feature")
    restored = FeatureBuilder.from_dict(json.loads(json.dumps(b.to_dict())))
    assert [s.group for s in restored.specs_] == [s.group for s in b.specs_]


def test_settings_read_intent_columns_from_the_features_section() -> None:
    settings_ = Settings.model_validate({"features": {"intent_columns": [TIME]}})
    assert settings_.features.intent_columns == (TIME,)


def test_points_of_an_intent_column_count_as_intent_in_scores_reasons_and_the_split() -> None:
    """The same data and model, once with the time on site as fit and once marked as
    intent: its points move from fit_points to intent_points, its reasons say intent,
    and the report's split counts it as intent."""
    leads = crm_leads(n=3000, seed=1)
    minutes = leads[TIME].to_numpy()
    y = (np.random.default_rng(2).random(len(leads)) < 1 / (1 + np.exp(-(minutes - 2200) / 250))).astype(int)
    snaps = pd.DataFrame({"lead_id": leads["lead_id"], "as_of": T0})
    top_leads = np.argsort(-minutes)[:5]
    runs = {}
    for group, intent_columns in (("fit", ()), ("intent", (TIME,))):
        b = FeatureBuilder(FeatureConfig(intent_columns=intent_columns)).fit(leads, NO_ACTS)
        X = b.transform(leads, NO_ACTS, snaps)
        card = Scorecard(specs=b.specs_).fit(X, y)
        raw = card.decision_function(X)
        model = ScoringModel(b, "scorecard", card, PlattCalibrator().fit(raw, y), ScoreScale(base_rate=y.mean()),
                             ScoringConfig(), threshold=0.5)
        runs[group] = (model.attribution(X), model.score_features(X.iloc[top_leads]))
    (as_fit, scored_fit), (as_intent, scored_intent) = runs["fit"], runs["intent"]
    time_points = as_fit.points[:, as_fit.signals.index(f"extra:{TIME}")]
    assert np.abs(time_points).max() > 1  # the column carries points
    np.testing.assert_allclose(as_intent.points, as_fit.points)  # the same model either way
    np.testing.assert_allclose(as_fit.fit_points - as_intent.fit_points, time_points, atol=1e-9)
    np.testing.assert_allclose(as_intent.intent_points - as_fit.intent_points, time_points, atol=1e-9)
    assert fit_intent_share(as_fit)["intent"] < 0.01 < 0.2 < fit_intent_share(as_intent)["intent"]
    for group, scored in (("fit", scored_fit), ("intent", scored_intent)):
        said = [r for items in scored["reasons"] for r in items if r["signal"] == f"extra:{TIME}"]
        assert len(said) == len(top_leads) and {r["group"] for r in said} == {group}
        assert all(r["text"].endswith("high for this data set (top 1 %)") for r in said)
        assert (", fit)" in reasons_text(said[:1])) == (group == "fit")
