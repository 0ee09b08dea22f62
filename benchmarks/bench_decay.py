"""Benchmark: learned half-lives against the generator's true ones.

Run: ``uv run python benchmarks/bench_decay.py [--leads 20000] [--seed 7]``.
Generates (or reuses) a synthetic export, estimates one half-life per signal
family with ``mqlscore.features.decay`` (reading only the export), then joins
the truth to print estimated vs true half-lives. Writes
``benchmarks/results/decay.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
MAJOR_WEIGHT = 1.0  # signals whose true weight is at least this are "major"


def true_half_lives(truth_dir: Path) -> dict[str, tuple[float, float]]:
    """family -> (true half-life, true weight), named as the feature families are."""
    truth = json.loads((truth_dir / "truth.json").read_text())
    out = {}
    for s in truth["signals"]:
        family = f"page:{s['page_category']}" if s["page_category"] else f"act:{s['activity_type']}"
        out[family] = (s["half_life_days"], s["weight"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    from mqlscore.config import GeneratorConfig
    from mqlscore.contract import load_folder
    from mqlscore.features import FeatureBuilder
    from mqlscore.features.decay import estimate_half_lives
    from mqlscore.synthetic import default_truth_dir, generate_export

    folder = ROOT / "data" / "bench" / f"decay_{args.leads}_{args.seed}"
    if not (folder / "leads.csv").exists():
        generate_export(GeneratorConfig(n_leads=args.leads, seed=args.seed, mc_sims=10), folder)
    data = load_folder(folder)
    t0 = time.perf_counter()
    builder = FeatureBuilder().fit(data.leads, data.activities)
    report = estimate_half_lives(builder, data.leads, data.activities, data.outcomes, data.as_of)
    seconds = time.perf_counter() - t0
    truth = true_half_lives(default_truth_dir(folder))

    rows = []
    print(f"{'signal':<26} {'estimate (95% CI)':>22} {'true':>6} {'ratio':>6} {'weight':>7} {'true w':>7} {'id':>3}")
    for h in report.table().itertuples():
        true_h, true_w = truth.get(h.family, (None, None))
        ratio = h.half_life_days / true_h if true_h else None
        rows.append({"family": h.family, "estimate": h.half_life_days, "low": h.low_days, "high": h.high_days,
                     "true": true_h, "ratio": ratio, "weight": h.weight, "true_weight": true_w,
                     "identified": h.identified})
        ci = f"{h.half_life_days:.0f} ({h.low_days:.0f}-{h.high_days:.0f})"
        print(f"{h.family:<26} {ci:>22} {true_h if true_h else '-':>6} "
              f"{(f'{ratio:.2f}' if ratio else '-'):>6} {h.weight:>+7.2f} "
              f"{(f'{true_w:+.2f}' if true_w is not None else '-'):>7} {'yes' if h.identified else 'no':>3}")
    major = [r for r in rows if r["true_weight"] is not None and r["true_weight"] >= MAJOR_WEIGHT]
    within = [r for r in major if r["ratio"] and 1 / 1.5 <= r["ratio"] <= 1.5]
    print(f"\nmajor signals (true weight >= {MAJOR_WEIGHT}): {len(within)}/{len(major)} within a factor of 1.5")
    print(f"validation log loss: learned {report.validation_log_loss:.4f}, "
          f"25 %/quarter rule {report.rule_of_thumb_log_loss:.4f}; {seconds:.0f} s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "decay.json").write_text(json.dumps({
        "benchmark": "decay", "leads": args.leads, "seed": args.seed, "seconds": seconds,
        "validation_log_loss": report.validation_log_loss, "rule_of_thumb_log_loss": report.rule_of_thumb_log_loss,
        "major_within_1_5": f"{len(within)}/{len(major)}", "rows": rows}, indent=2))
    print(f"results written to {RESULTS / 'decay.json'}")


if __name__ == "__main__":
    main()
