"""Files the command line writes (issue 11, defects 5 and 6): an output that would
overwrite an input is refused before any work (exit 2); an output that cannot be
written is named before any work (exit 1); files are written beside their place
and renamed, so a full disk leaves neither a truncated file nor a traceback."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mqlscore.batch import write_score_file
from mqlscore.cli import app
from mqlscore.contract import write_rejects, write_tables
from mqlscore.contract.schema import SCORE_FILE_COLUMNS

LEADS = """\
lead_id,created_at,org_type,employee_count
L1,2024-01-01T09:00:00Z,hospital,1200
L2,2024-01-02T09:00:00Z,payer,35
L3,2024-01-03,physician_group,bad
"""
ACTIVITIES = """\
lead_id,occurred_at,activity_type,detail
L1,2024-01-05T10:00:00Z,page_view,/pricing
L2,2024-01-07T12:00:00Z,demo_request,
"""
OUTCOMES = "lead_id,sql_at,disqualified_at\nL1,2024-02-01T00:00:00Z,\n"
MAPPING = """
sources:
  crm_leads: {path: leads.csv}
tables:
  leads:
    source: crm_leads
    columns: {lead_id: id, created_at: created}
"""
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def folder(root: Path, leads: str = LEADS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in (("leads", leads), ("activities", ACTIVITIES), ("outcomes", OUTCOMES)):
        (root / f"{name}.csv").write_text(text)
    return root


def contents(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (hidden temporary files included)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def the_line(output: str, words: str) -> str:
    """The one output line holding ``words`` (a message is never wrapped over lines)."""
    lines = [line for line in output.splitlines() if words in line]
    assert len(lines) == 1, output
    return lines[0]


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record any reading, validating, model loading or scoring: a refused output comes first."""
    import mqlscore.batch
    import mqlscore.contract
    import mqlscore.registry

    calls: list[str] = []

    def record(name: str):  # noqa: ANN202
        def called(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls.append(name)
            raise AssertionError(f"{name} ran before the output was checked")
        return called

    monkeypatch.setattr(mqlscore.contract, "load_folder", record("load_folder"))
    monkeypatch.setattr(mqlscore.contract, "validate_tables", record("validate_tables"))
    monkeypatch.setattr(mqlscore.registry, "load_scoring_model", record("load_scoring_model"))
    monkeypatch.setattr(mqlscore.batch, "score_open_leads", record("score_open_leads"))
    return calls


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """``score`` without a registry: a stand-in model and three scored leads."""
    import mqlscore.batch
    import mqlscore.registry

    def scored(model, dataset) -> pd.DataFrame:  # noqa: ANN001
        frame = pd.DataFrame({c: ["x"] * 3 for c in SCORE_FILE_COLUMNS})
        return frame.assign(tier=["A", "B", "C"], is_mql=[True, False, False], score=[90.0, 60.0, 30.0])

    monkeypatch.setattr(mqlscore.registry, "load_scoring_model", lambda uri: object())
    monkeypatch.setattr(mqlscore.batch, "score_open_leads", scored)


def disk_fills_midway(monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    """Make ``DataFrame.<method>`` write part of the file, then fail as a full disk does."""
    original = getattr(pd.DataFrame, method)

    def fill(self: pd.DataFrame, path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        original(self, path, *args, **kwargs)
        with open(path, "r+b") as handle:
            handle.truncate(max(os.path.getsize(path) // 2, 1))
        raise ENOSPC

    monkeypatch.setattr(pd.DataFrame, method, fill)


# --- defect 5: an output that is an input ------------------------------------------------


@pytest.mark.parametrize("name", ["leads.csv", "activities.csv", "outcomes.csv"])
def test_score_refuses_to_write_over_an_input_table(tmp_path: Path, no_work: list[str], name: str) -> None:
    data = folder(tmp_path / "export")
    before = contents(data)
    code, output = invoke("score", "--data", str(data), "--out", str(data / name))
    assert code == 2, output
    assert "is an input" in the_line(output, str(data / name))
    assert contents(data) == before and no_work == []


def test_score_refuses_an_input_reached_through_a_symlink_or_another_spelling(tmp_path: Path,
                                                                              no_work: list[str]) -> None:
    data = folder(tmp_path / "export")
    link = tmp_path / "elsewhere" / "scores.csv"
    link.parent.mkdir()
    link.symlink_to(data / "leads.csv")
    before = contents(data)
    for out in (link, tmp_path / "elsewhere" / ".." / "export" / "leads.csv"):
        code, output = invoke("score", "--data", str(data), "--out", str(out))
        assert code == 2, output
        assert "is an input" in output
    # the data folder itself a symlink: the tables it holds are still inputs
    (tmp_path / "data-link").symlink_to(data)
    code, output = invoke("score", "--data", str(tmp_path / "data-link"), "--out", str(data / "activities.csv"))
    assert code == 2, output
    assert contents(data) == before and no_work == []


def test_an_output_named_like_a_table_of_the_input_folder_is_refused(tmp_path: Path, no_work: list[str]) -> None:
    # Not read today, but written there it would be read next time (or clash with leads.csv).
    data = folder(tmp_path / "export")
    (data / "outcomes.csv").unlink()
    for out in ("outcomes.csv", "leads.parquet", "Activities.CSV"):
        code, output = invoke("score", "--data", str(data), "--out", str(data / out))
        assert code == 2, output
        assert "table" in the_line(output, out)
    assert no_work == []


@pytest.mark.parametrize("name", ["activities.csv", "leads.csv", "leads.parquet"])
def test_validate_refuses_rejects_over_an_input_table(tmp_path: Path, no_work: list[str], name: str) -> None:
    data = folder(tmp_path / "export")
    before = contents(data)
    code, output = invoke("validate", str(data), "--lenient", "--rejects", str(data / name))
    assert code == 2, output
    assert "--rejects" in the_line(output, name)
    assert contents(data) == before and no_work == []


def test_import_refuses_to_write_over_its_raw_files(tmp_path: Path, no_work: list[str]) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "leads.csv").write_text("id,created\nA1,2024-01-01\n")
    (raw / "mapping.yaml").write_text(MAPPING)
    before = contents(raw)
    code, output = invoke("import", "--mapping", str(raw / "mapping.yaml"), "--out", str(raw))
    assert code == 2, output
    assert "is an input" in the_line(output, str(raw / "leads.csv"))
    assert contents(raw) == before and no_work == []


def test_import_into_the_raw_folder_is_fine_when_no_raw_file_is_overwritten(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "crm.csv").write_text("id,created\nA1,2024-01-01\n")
    (raw / "mapping.yaml").write_text(MAPPING.replace("leads.csv", "crm.csv"))
    code, output = invoke("import", "--mapping", str(raw / "mapping.yaml"), "--out", str(raw))
    assert code == 0, output
    assert (raw / "leads.csv").is_file() and (raw / "crm.csv").read_text().startswith("id,created")


# --- defect 6: outputs that cannot be written, and full disks -------------------------------


def test_score_out_that_is_a_folder_is_named_before_any_work(tmp_path: Path, no_work: list[str]) -> None:
    data = folder(tmp_path / "export")
    out = tmp_path / "scores.csv"
    out.mkdir()
    code, output = invoke("score", "--data", str(data), "--out", str(out))
    assert code == 1, output
    assert "is a folder" in the_line(output, str(out))
    assert no_work == []


def test_an_out_under_a_regular_file_is_named_before_any_work(tmp_path: Path, no_work: list[str]) -> None:
    data = folder(tmp_path / "export")
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    for args in (["score", "--data", str(data), "--out", str(blocker / "deeper" / "out.csv")],
                 ["validate", str(data), "--lenient", "--rejects", str(blocker / "rejects.csv")],
                 ["import", "--mapping", str(tmp_path / "m.yaml"), "--out", str(blocker / "contract")]):
        (tmp_path / "m.yaml").write_text(MAPPING.replace("leads.csv", "export/leads.csv"))
        code, output = invoke(*args)
        assert code == 1, output
        assert "is not a folder" in the_line(output, str(blocker))
    assert blocker.read_text() == "not a folder" and no_work == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the file-parent case covers it")
def test_an_out_in_a_read_only_folder_is_named_before_any_work(tmp_path: Path, no_work: list[str]) -> None:
    data = folder(tmp_path / "export")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, output = invoke("score", "--data", str(data), "--out", str(locked / "out.csv"))
    finally:
        locked.chmod(0o700)
    assert code == 1, output
    assert "not writable" in the_line(output, str(locked))
    assert no_work == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_full_disk_while_scoring_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          fake_model: None, suffix: str) -> None:
    data = folder(tmp_path / "export", LEADS.replace("bad", "12"))
    outputs = tmp_path / "scores"
    outputs.mkdir()
    out = outputs / f"scores{suffix}"
    code, output = invoke("score", "--data", str(data), "--out", str(out))
    assert code == 0, output
    previous = contents(outputs)
    disk_fills_midway(monkeypatch, "to_parquet" if suffix == ".parquet" else "to_csv")
    code, output = invoke("score", "--data", str(data), "--out", str(out))
    assert code == 1, output
    assert "No space left on device" in the_line(output, f"Cannot write {out}")
    assert contents(outputs) == previous  # the last complete file stays; no temporary file is left


def test_a_full_disk_while_writing_rejects_leaves_no_partial_file(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    data = folder(tmp_path / "export")
    before = contents(data)
    disk_fills_midway(monkeypatch, "to_csv")
    code, output = invoke("validate", str(data), "--lenient")
    assert code == 1, output
    assert "No space left on device" in the_line(output, f"Cannot write {data / 'rejects.csv'}")
    assert contents(data) == before


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_full_disk_while_importing_leaves_no_partial_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            fmt: str) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "leads.csv").write_text("id,created\nA1,2024-01-01\nA2,2024-01-02\n")
    (raw / "mapping.yaml").write_text(MAPPING)
    out = tmp_path / "contract"
    disk_fills_midway(monkeypatch, "to_parquet" if fmt == "parquet" else "to_csv")
    code, output = invoke("import", "--mapping", str(raw / "mapping.yaml"), "--out", str(out), "--format", fmt)
    assert code == 1, output
    assert "No space left on device" in the_line(output, "Cannot write")
    assert not out.exists() or contents(out) == {}


def test_library_writers_replace_a_file_only_when_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scored = pd.DataFrame({c: [1] for c in SCORE_FILE_COLUMNS})
    rejects = pd.DataFrame({"table": ["leads"], "row": [2]})
    for write, path in ((lambda p: write_score_file(scored, p), tmp_path / "s.csv"),
                        (lambda p: write_rejects(rejects, p), tmp_path / "r.csv")):
        path.write_text("old and complete")
        with monkeypatch.context() as patch:
            disk_fills_midway(patch, "to_csv")
            with pytest.raises(OSError, match="No space left"):
                write(path)
        assert path.read_text() == "old and complete"
    frames = {"leads": pd.DataFrame({"lead_id": ["A"], "created_at": pd.to_datetime(["2024-01-01"], utc=True)})}
    with monkeypatch.context() as patch:
        disk_fills_midway(patch, "to_csv")
        with pytest.raises(OSError, match="No space left"):
            write_tables(frames, tmp_path / "tables")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["r.csv", "s.csv", "tables"]
