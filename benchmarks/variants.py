"""Every subcubic variant on the first N K = 4 zoo models (default 12), for docs/results.md's per-variant table.

Per (model, variant): the prover's bound (subcubic.prove_variant, the model's shared tables formed once),
its certificate written and checked by the checker (benchmarks/strategies.py's measure: check_file, its
verdict and ops), and the bound over the model's exact accuracy (certify/zoo/manifest.json). One JSON
line per pair, appended as it finishes; a re-run with the same --out skips the pairs already there.

Run: python benchmarks/variants.py [--models 12] [--out variants.jsonl]
     python benchmarks/variants.py --markdown variants.jsonl   (the table: per variant the normalised
     bound's mean ± sample std over the models, the worst model's, the mean checker ops)
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

from strategies import measure

from certify import zoo
from certify.paths import load_float_model
from certify.strategies import subcubic
from certify.strategies import subcubic_tables as st


def run(models: int, out: Path) -> int:
    done = set()
    if out.exists():
        done = {(r["model"], r["variant"]) for r in map(json.loads, out.read_text().splitlines())}
    entries = [e for e in zoo.entries() if e.k == 4][:models]
    print(f"{len(entries)} models: {', '.join(e.name for e in entries)}", flush=True)
    bad = 0
    with tempfile.TemporaryDirectory() as tmp, out.open("a") as f:
        for entry in entries:
            m = load_float_model(entry.path)
            T = st.shared(m)
            for v in subcubic.variants():
                name = subcubic.variant_name(*v)
                if (entry.name, name) in done:
                    continue
                r = measure(entry, name, lambda m, v=v: subcubic.prove_variant(m, *v, shared=T), Path(tmp), m)
                bad += r["verdict"] != "accepted"
                f.write(json.dumps({"model": entry.name, "variant": name, "eupu": v[0], "attn": v[1], "err": v[2],
                                    "bound": f"{r['bound'].numerator}/{r['bound'].denominator}",
                                    "normalized": float(r["normalized"]), "verdict": r["verdict"],
                                    "ops": r["ops"], "prove_s": round(r["prove_s"], 3),
                                    "check_s": round(r["check_s"], 3)}) + "\n")
                f.flush()
            print(f"{entry.name} done", flush=True)
    print(f"{bad} certificates not accepted")
    return 1 if bad else 0


def markdown(rows: list[dict]) -> str:
    by: dict[tuple, list[dict]] = {}
    for r in rows:
        by.setdefault((r["eupu"], r["attn"], r["err"]), []).append(r)
    stats = []
    for v, rs in by.items():
        norm = [r["normalized"] for r in rs]
        stats.append((v, statistics.mean(norm), statistics.stdev(norm) if len(norm) > 1 else 0.0, min(norm),
                      statistics.mean(r["ops"] for r in rs), len(rs)))
    stats.sort(key=lambda s: -s[1])
    models = sorted({r["model"] for r in rows}, key=lambda n: int(n.rsplit("-s", 1)[1]))
    accepted = sum(r["verdict"] == "accepted" for r in rows)
    out = [f"{len(rows)} certificates over {len(models)} models ({', '.join(models)}), {accepted} accepted; "
           f"{len(stats)} variants.", "",
           "| `eupu` (direct path) | `attn` | `err` (residual) | normalised bound | worst model | checker ops (mean) |",
           "| --- | --- | --- | --- | ---: | ---: |"]
    top = stats[0][1]
    for (e, a, r), mean, std, worst, ops, n in stats:
        cell = f"{mean:.3f} ± {std:.3f}"
        cell = f"**{cell}**" if mean == top else cell
        note = "" if n == len(models) else f" ({n} models)"
        out.append(f"| `{e}` | `{a}` | `{r}` | {cell}{note} | {worst:.3f} | {ops:,.0f} |")
    out += ["", _best_per_model(rows)]
    return "\n".join(out)


def _best_per_model(rows: list[dict]) -> str:
    """Per model the best variant among: every one, the subcubic-cost ones (prove_best's search), the
    paper's subcubic-cost ones; over the models the mean ± std of that best and which variants it was."""
    families = {"every variant": lambda r: True,
                "the subcubic-cost variants (prove_best's search)": lambda r: r["err"] not in subcubic.CUBIC_ERR,
                "the paper's subcubic-cost variants": lambda r: r["err"] not in subcubic.CUBIC_ERR
                and subcubic.is_paper(r["eupu"], r["attn"], r["err"])}
    order = {subcubic.variant_name(*v): i for i, v in enumerate(subcubic.variants())}
    lines = []
    for label, keep in families.items():
        best = {}
        for r in sorted((r for r in rows if keep(r)), key=lambda r: order[r["variant"]]):
            if r["model"] not in best or r["normalized"] > best[r["model"]]["normalized"]:
                best[r["model"]] = r  # ties: the first in the listing order, as prove_best
        norm = [r["normalized"] for r in best.values()]
        chosen = Counter("/".join((r["eupu"], r["attn"], r["err"])) for r in best.values())
        std = statistics.stdev(norm) if len(norm) > 1 else 0.0
        lines.append(f"- best of {label}: {statistics.mean(norm):.3f} ± {std:.3f} (worst {min(norm):.3f}); "
                     + ", ".join(f"`{v}` on {n}" for v, n in chosen.most_common()))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=12, help="the first N K = 4 zoo models (default 12)")
    ap.add_argument("--out", type=Path, default=Path("variants.jsonl"), help="JSON lines, appended (resumable)")
    ap.add_argument("--markdown", type=Path, metavar="JSONL", help="print the table of a finished run")
    args = ap.parse_args()
    if args.markdown:
        print(markdown([json.loads(line) for line in args.markdown.read_text().splitlines()]))
        return 0
    return run(args.models, args.out)


if __name__ == "__main__":
    sys.exit(main())
