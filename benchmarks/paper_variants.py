"""The paper's 100 subcubic variants (`paper:EUPU/ATTENTION/ERROR`) on the weights the paper's own code was
run on (issue #19: the pre-#17 k4-v64-s123, tests/fixtures/k4-v64-s123-torch.safetensors): per variant
the bound (count of the 64^4 inputs), prove and check time (checker.check.check_file on a written
certificate: verdict and ops), beside the paper's own count where issue #19 measured it
(tests/fixtures/paper_counts.json). One JSON line per variant, appended as it finishes.

Run: python benchmarks/paper_variants.py [--out results.jsonl] [--only NAME ...]
     python benchmarks/paper_variants.py --markdown results.jsonl   (the docs/results.md table; it adds
     the count of certify's mapped variant, eupu/mean-query/err in our inequality, from the prover)
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from certify.certificate import certificate_dict, model_reference, write_certificate
from certify.paths import load_float_model
from certify.strategies import paper
from certify.strategies import subcubic_tables as st
from certify.weights import sha256_file
from checker.check import check_file

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures"
FIXTURE = json.loads((FIXTURES / "paper_counts.json").read_text())
WEIGHTS = FIXTURES / FIXTURE["weights"]  # the pre-#17 k4-v64-s123 the paper's code was run on


def markdown(rows: list[dict]) -> str:
    from certify.strategies import subcubic
    path = WEIGHTS
    m = load_float_model(path)
    T = st.shared(m)
    total = FIXTURE["total"]
    best = subcubic.prove_best(m)
    ours = {r: int(subcubic.prove_variant(m, "exact", "rank2-query", r, shared=T).bound * total)
            for r in paper.ERROR.values()}
    out = ["| paper variant (EUPU / attention / EQKE residual) | paper's code | ours (`paper:`, checked) "
           "| certify's mapped variant | ours, same residual: `exact`/`rank2-query` | prove / check s | checker ops |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in sorted(rows, key=lambda r: -r["count"]):
        par = paper.parse(r["variant"])
        mapped = subcubic.prove_variant(m, par["eupu"], "mean-query", par["err"], shared=T).bound * total
        theirs = f"{r['paper']:,}" if r["paper"] is not None else "—"
        ok = "" if r["verdict"] == 0 else " (NOT accepted)"
        out.append(f"| `{r['variant'].removeprefix('paper:')}` | {theirs} | {r['count']:,}{ok} | {int(mapped):,} "
                   f"| {ours[par['err']]:,} | {r['prove_s']} / {r['check_s']} | {r['ops']:,} |")
    out.append(f"\ncertify's best subcubic (`{'/'.join(best.parameters.values())}`): {int(best.bound * total):,} "
               f"({float(best.bound):.6f}); it beats every paper variant above.")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="paper_variants.jsonl")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--markdown", metavar="JSONL")
    args = ap.parse_args()
    if args.markdown:
        print(markdown([json.loads(line) for line in open(args.markdown)]))
        return
    path, name = WEIGHTS, None
    m, digest = load_float_model(path), sha256_file(path)
    T = st.shared(m)
    tmp = Path(tempfile.mkdtemp())
    with open(args.out, "a") as out:
        for n in args.only or paper.names():
            t0 = time.perf_counter()
            proof = paper.prove(m, n, T)
            prove_s = time.perf_counter() - t0
            cert = tmp / "cert.json"
            write_certificate(cert, certificate_dict(proof, m.k, m.d_vocab, digest, model_reference(path, cert, name)))
            t1 = time.perf_counter()
            res = check_file(str(cert))
            row = {"variant": n, "count": int(proof.bound * FIXTURE["total"]), "bound": float(proof.bound),
                   "paper": FIXTURE["counts"].get(n.removeprefix("paper:")), "prove_s": round(prove_s, 2),
                   "check_s": round(time.perf_counter() - t1, 2), "verdict": res.exit_code, "ops": res.ops}
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(row, flush=True)


if __name__ == "__main__":
    main()
