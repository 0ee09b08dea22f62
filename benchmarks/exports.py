"""The generated demo exports the benchmarks share, cached under ``data/bench/``."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def demo_export(leads: int, seed: int, kind: str = "model") -> Path:
    """``data/bench/{kind}_{leads}_{seed}``: the generator's export of ``leads`` leads
    (seed ``seed``), generated the first time it is asked for."""
    from mqlscore.config import GeneratorConfig
    from mqlscore.synthetic import generate_export

    folder = ROOT / "data" / "bench" / f"{kind}_{leads}_{seed}"
    if not (folder / "leads.csv").exists():
        print(f"generating {leads:,} leads (seed {seed}) into {folder} (once) ...", flush=True)
        generate_export(GeneratorConfig(n_leads=leads, seed=seed), folder)
    return folder
