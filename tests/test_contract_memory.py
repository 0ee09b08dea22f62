"""Validating a large CSV holds about the table once, not several copies of it
(issue 11, defect 12: a 1.1 GB activities file peaked at about 6x its size).

The file is validated in a fresh interpreter whose peak resident set (VmHWM) is
compared with the file's size; benchmarks/bench_validate_memory.py measures the
same at 300 MB and 1.1 GB.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROWS = 1_500_000  # about 110 MB of activities
CHILD = """
import sys
import pandas, pyarrow, pyarrow.csv

def high_water_mark():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))

from mqlscore.contract import load_folder

before = high_water_mark()
data = load_folder(sys.argv[1])
print(high_water_mark() - before, len(data.activities), data.report.n_duplicate_activities)
"""


def export(folder: Path) -> Path:
    """Leads and activities as a CRM exports them: 18-character ids, ISO times, a page or a subject."""
    rng = np.random.default_rng(3)
    ids = np.char.add("00Q5e00000", np.char.zfill(np.arange(20_000).astype(str), 8))
    folder.mkdir()
    created = np.datetime64("2024-01-01T00:00:00", "s") + rng.integers(0, 300 * 86_400, len(ids)).astype(
        "timedelta64[s]")
    (folder / "leads.csv").write_text("lead_id,created_at\n" + "".join(
        f"{i},{t}Z\n" for i, t in zip(ids.tolist(), np.datetime_as_string(created).tolist(), strict=True)))
    lead = rng.integers(0, len(ids), ROWS)
    when = np.datetime_as_string(created[lead] + rng.integers(60, 200 * 86_400, ROWS).astype("timedelta64[s]"))
    kind = np.asarray(["page_view", "email_open", "demo_request"])[rng.integers(0, 3, ROWS)]
    detail = np.asarray(["/pricing", "/integrations/epic-fhir-api", "Webinar: FHIR in 30 minutes"])[
        rng.integers(0, 3, ROWS)]
    lines = [f"{a},{b}Z,{c},{d}\n" for a, b, c, d in zip(ids[lead].tolist(), when.tolist(), kind.tolist(),
                                                          detail.tolist(), strict=True)]
    (folder / "activities.csv").write_text("lead_id,occurred_at,activity_type,detail\n" + "".join(lines))
    return folder


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak resident set from /proc")
def test_validating_a_large_csv_peaks_at_a_small_multiple_of_the_file(tmp_path: Path) -> None:
    folder = export(tmp_path / "export")
    size = (folder / "activities.csv").stat().st_size + (folder / "leads.csv").stat().st_size
    done = subprocess.run([sys.executable, "-c", CHILD, str(folder)], capture_output=True, text=True, check=True)
    grown, rows, _ = (int(v) for v in done.stdout.split())
    assert rows > 0.99 * ROWS
    # Holding the text once costs about 1.5x such a file (an 8-byte offset per value, allocator
    # pages); parsed times and the working set of the checks add a little (2.4x measured). The
    # validation once held five to six copies' worth (6.2x on this file).
    assert grown < 3 * size, f"validation grew by {grown / size:.1f}x the file"
