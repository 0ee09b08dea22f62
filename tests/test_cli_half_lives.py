"""`mqlscore half-lives`: a learned half-life per signal family, printed as a table and written as CSV."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mqlscore.cli import app
from mqlscore.features.decay import RULE_OF_THUMB_LOSS, HalfLife, half_life_for_quarterly_loss

LEADS = """\
lead_id,created_at,email,job_title,org_type
L1,2024-01-01T09:00:00Z,ada@mercy.org,Chief Medical Officer,hospital
L2,2024-01-02T09:00:00Z,bob@payer.com,VP Benefits,payer
"""
ACTIVITIES = """\
lead_id,occurred_at,activity_type,detail
L1,2024-01-05T10:00:00Z,demo_request,
L2,2024-01-07T12:00:00Z,page_view,/pricing
"""
PERSONAL = ("ada@mercy.org", "bob@payer.com", "Chief Medical Officer", "VP Benefits")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated export (1,500 leads, two years): enough for one identified signal, fast to fit."""
    from mqlscore.config import GeneratorConfig
    from mqlscore.synthetic import generate_export

    out = tmp_path_factory.mktemp("half-lives") / "export"
    generate_export(GeneratorConfig(n_leads=1_500, seed=3, mc_sims=10), out)
    return out


def run(*args: str) -> tuple[int, str]:
    """Run the command; bad input must end in an exit code, never a traceback."""
    result = CliRunner().invoke(app, ["half-lives", *args], env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def small_folder(root: Path, outcomes: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in (("leads", LEADS), ("activities", ACTIVITIES), ("outcomes", outcomes)):
        (root / f"{name}.csv").write_text(text, encoding="utf-8")
    return root


def test_prints_every_family_with_its_interval_and_writes_the_csv(export: Path, tmp_path: Path) -> None:
    out = tmp_path / "new" / "half_lives.csv"
    code, output = run("--data", str(export), "--out", str(out))
    assert code == 0, output
    for header in ("signal", "family", "half-life (days)", "95 % interval", "lost per quarter", "weight", "events",
                   "identified"):  # the columns docs/features.md names
        assert header in output
    table = pd.read_csv(out)
    assert list(table.columns) == [f.name for f in dataclasses.fields(HalfLife)]
    assert len(table) >= 10 and table["identified"].any(), table
    # identified families first, each part shortest half-life first
    assert table["identified"].is_monotonic_decreasing
    for _, part in table.groupby("identified"):
        assert part["half_life_days"].is_monotonic_increasing
    for family in table["family"]:
        assert family in output
    for row in table[table["identified"]].itertuples():
        assert f"{row.low_days:,.0f}-{row.high_days:,.0f}" in output
    assert "pricing-page visits" in output  # the families' words, not only their codes
    n_identified = int(table["identified"].sum())
    assert f"{n_identified} of {len(table)} signal families identified" in output
    rule = half_life_for_quarterly_loss(RULE_OF_THUMB_LOSS)
    assert f"a {rule:.0f}-day half-life for every signal" in output
    assert "Validation log loss of the SQL hazard" in output and "rule of thumb" in output
    assert f"Written to {out}." in output


def test_as_of_learns_only_from_what_happened_before_it(export: Path, tmp_path: Path) -> None:
    """An earlier --as-of sees fewer events: activities after it are neither counted nor fitted."""
    full = tmp_path / "full.csv"
    assert run("--data", str(export), "--out", str(full))[0] == 0
    as_of = "2025-12-31T00:00:00Z"
    code, output = run("--data", str(export), "--as-of", as_of, "--out", str(tmp_path / "early.csv"))
    assert code == 0, output
    assert "Learned half-lives as of 2025-12-31 00:00:00+00:00" in output
    early = pd.read_csv(tmp_path / "early.csv").set_index("family")["events"]
    later = pd.read_csv(full).set_index("family")["events"].reindex(early.index)
    assert (early <= later).all() and early.sum() < later.sum(), pd.DataFrame({"early": early, "full": later})


def test_no_conversions_is_a_clear_error_without_personal_data(tmp_path: Path) -> None:
    folder = small_folder(tmp_path / "x", "lead_id,sql_at,disqualified_at\nL2,,2024-02-15T00:00:00Z\n")
    code, output = run("--data", str(folder))
    assert code == 1, output
    assert "No lead became an SQL before" in output
    assert not [p for p in PERSONAL if p in output]


def test_too_few_activities_is_a_clear_error(tmp_path: Path) -> None:
    folder = small_folder(tmp_path / "x", "lead_id,sql_at,disqualified_at\nL1,2024-02-01T00:00:00Z,\n")
    out = tmp_path / "half_lives.csv"
    code, output = run("--data", str(folder), "--out", str(out))
    assert code == 1, output
    assert "Only 1 SQL before" in output and "No signal family has enough activities" in output
    assert not out.exists()
    assert not [p for p in PERSONAL if p in output]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--out", "half_lives.txt"), 2, "must end in .csv"),
        (("--as-of", "not a time"), 2, "--as-of"),
        (("--config", "missing.yaml"), 2, "Config problem"),
    ],
)
def test_bad_options_exit_with_a_message(tmp_path: Path, args: tuple[str, ...], code: int, message: str) -> None:
    folder = small_folder(tmp_path / "x", "lead_id,sql_at,disqualified_at\nL1,2024-02-01T00:00:00Z,\n")
    result, output = run("--data", str(folder), *args)
    assert result == code, output
    assert message in output


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    code, output = run("--data", str(tmp_path / "nowhere"))
    assert code == 1, output
    assert "does not exist" in output and "Not valid" in output


def test_an_unwritable_out_file_is_a_clear_error(export: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    code, output = run("--data", str(export), "--as-of", "2025-06-30T00:00:00Z", "--out", str(blocker / "h.csv"))
    assert code == 1, output
    assert f"Cannot write {blocker / 'h.csv'}" in output
