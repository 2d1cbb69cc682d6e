"""certify: train Max-of-K transformers, prove accuracy bounds, write and check certificates."""
from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from pathlib import Path

from certify import zoo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="certify", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub.add_parser("train", help="train a model with the paper's recipe"))
    _run_parser(sub.add_parser("run", help="prove bounds, write certificates, check them"))
    from checker.cli import add_arguments
    chk = sub.add_parser("check", help="check certificates with the independent checker")
    add_arguments(chk)
    chk.add_argument("--smt", choices=["z3", "cvc5"], help="also re-check the obligations with an SMT solver")
    _smt_options(chk)
    exp = sub.add_parser("export", help="export a certificate's obligations")
    exp.add_argument("format", choices=["smt"])
    exp.add_argument("certificate")
    exp.add_argument("-o", "--out", required=True, help="output directory for .smt2 files")
    exp.add_argument("--weights")
    _smt_options(exp)
    z = sub.add_parser("zoo", help="list the shipped models")
    sub.add_parser("strategies", help="list the proof strategies")
    sw = sub.add_parser("sweep", help="prove and check many models x strategies on Dask (resumable)")
    sw.add_argument("--models", default="zoo:k4", help="zoo:k4, zoo:all, or comma-separated names/paths")
    sw.add_argument("--strategies", default="cubic,subcubic", help="'all' or a comma-separated list")
    sw.add_argument("--out", required=True)
    sw.add_argument("--limit-models", type=int, metavar="N", help="only the first N models")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler (default: a LocalCluster)")
    sw.add_argument("--workers", type=int, help="LocalCluster workers (default: the machine's cores)")
    rp = sub.add_parser("report", help="figure and table from a sweep directory")
    rp.add_argument("dir")
    imp = sub.add_parser("import", help="import a torch / TransformerLens state dict (.pt) as safetensors")
    imp.add_argument("source", help="state dict file (.pt), loaded with weights_only=True")
    imp.add_argument("--out", required=True, help="output .safetensors path")
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except OSError as e:  # unreadable inputs, read-only or full output directories
        print(f"certify: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except (ValueError, KeyError) as e:
        print(f"certify: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("certify: interrupted", file=sys.stderr)
        return 130


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _train_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--d-vocab", type=int, default=64)
    p.add_argument("--d-model", type=int, default=32)
    p.add_argument("--d-head", type=int, default=32)
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--out", help="output .safetensors path (one --seed)")
    p.add_argument("--seeds", help="comma-separated seeds, or 'paper' for the paper's 151: train in "
                   "parallel on Dask into the shipped zoo (resumable)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="with --seeds: an existing Dask scheduler")
    p.add_argument("--workers", type=int, help="with --seeds: LocalCluster workers")


def _run_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=zoo.DEFAULT_MODEL, help="zoo name or .safetensors path")
    p.add_argument("--strategy", action="append", help="strategy name (repeatable); default: all")
    p.add_argument("--out", default="certs", help="directory for the certificates")
    p.add_argument("--semantics", choices=["exact-real", "float32"], default="exact-real",
                   help="what the claim is about: the exact real model (default), or also every "
                   "float32 execution (brute-force and cubic; docs/semantics.md)")


def cmd_train(args: argparse.Namespace) -> int:
    if args.seeds:
        from certify.seeds import PAPER_SEEDS
        seeds = list(PAPER_SEEDS) if args.seeds == "paper" else _int_list(args.seeds)
        trained = zoo.train_many(args.k, args.d_vocab, seeds, args.steps, args.scheduler, args.workers)
        print(f"trained {len(trained)} models into {zoo.ZOO_DIR} ({len(seeds) - len(trained)} already there)")
        return 0
    if not args.out:
        raise ValueError("--out is required (or --seeds to train into the zoo)")
    from certify.model import Config
    from certify.train import RECIPE, sampled_accuracy, train
    from certify.weights import save_model
    cfg = Config(args.k, args.d_vocab, args.d_model, args.d_head)
    start = time.perf_counter()
    model, loss = train(cfg, args.seed, steps=args.steps)
    digest = save_model(model, args.out, {**RECIPE, "steps": args.steps, "seed": args.seed})
    print(f"trained {args.out} in {time.perf_counter() - start:.1f} s: final loss {loss:.5f}, "
          f"sampled accuracy {sampled_accuracy(model):.5f}\nsha256 {digest}")
    return 0


def cmd_zoo(args: argparse.Namespace) -> int:
    print(f"{'name':<16} {'k':>3} {'vocab':>5} {'seed':>6} {'exact accuracy':>16}  sha256")
    for e in zoo.entries():
        default = "  (default)" if e.name == zoo.DEFAULT_MODEL else ""
        acc = zoo.accuracy(e)
        shown = "not enumerable" if acc is None else f"{float(acc):.6f}"
        print(f"{e.name:<16} {e.k:>3} {e.d_vocab:>5} {e.seed:>6} {shown:>16}  "
              f"{e.sha256[:16]}…{default}")
    return 0


def cmd_strategies(args: argparse.Namespace) -> int:
    from certify.strategies import all_strategies
    for s in all_strategies().values():
        print(f"{s.name:<28} {s.cost:<32} {s.summary}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from checker.check import check_file
    from certify.certificate import certificate_dict, model_reference, write_certificate
    from certify.paths import load_float_model
    from certify.strategies import all_strategies, get
    from certify.weights import sha256_file
    weights, name = zoo.resolve(args.model)
    model = dataclasses.replace(load_float_model(weights), semantics=args.semantics)
    digest = sha256_file(weights)
    label = name or Path(weights).stem
    chosen = [get(s) for s in args.strategy] if args.strategy else \
        [s for s in all_strategies().values() if s.default]
    rows, status = [], 0
    for strategy in chosen:
        skip = strategy.applies(model) or (None if args.semantics in strategy.semantics else
                                           f"claims {', '.join(strategy.semantics)} semantics only")
        if skip:
            print(f"{strategy.name}: skipped: {skip}")
            continue
        t0 = time.perf_counter()
        proof = strategy.prove(model)
        prove_s = time.perf_counter() - t0
        cert_path = Path(args.out) / f"{label}.{strategy.name.replace(':', '_')}.json"
        write_certificate(cert_path, certificate_dict(proof, model.k, model.d_vocab, digest,
                                                      model_reference(weights, cert_path, name)))
        result = check_file(str(cert_path))
        status = max(status, result.exit_code)
        rows.append((strategy.name, proof.bound, prove_s, result, cert_path))
    _print_table(label, rows)
    return status


def _print_table(label: str, rows: list) -> None:
    print(f"\nmodel {label}")
    print(f"{'strategy':<28} {'bound':>22} {'decimal':>9} {'prove s':>8} {'check s':>8} {'ops':>14}  verdict")
    for name, bound, prove_s, r, path in rows:
        frac = f"{bound.numerator}/{bound.denominator}"
        print(f"{name:<28} {frac:>22} {float(bound):>9.6f} {prove_s:>8.2f} {r.seconds:>8.2f} "
              f"{r.ops:>14,}  {r.verdict}")
        if r.verdict != "accepted":
            print(f"  {path}: {r.reason}")
    print(f"certificates in {Path(rows[0][4]).parent}/" if rows else "no certificates written")


def _smt_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--smt-sample", type=int, default=200, metavar="N",
                   help="brute force: random inputs re-checked besides the near-ties (default 200)")
    p.add_argument("--smt-timeout", type=float, default=10.0, metavar="S", help="seconds per obligation")


def cmd_check(args: argparse.Namespace) -> int:
    from checker.cli import check_all
    results = check_all(args)
    status = max(r.exit_code for r in results)
    if args.smt:
        for cert, result in zip(args.certificates, results):
            status = max(status, _smt_recheck(args, cert, claim_verified=result.bound is not None))
    return status


def _smt_recheck(args: argparse.Namespace, cert: str, claim_verified: bool) -> int:
    """Second opinion on one certificate; 1 on disagreement with the checker or failure to run."""
    from exporters.smt import recheck
    try:
        summary, note = recheck(cert, args.smt, args.weights, args.smt_sample, int(args.smt_timeout * 1000))
    except Exception as e:  # unreadable certificate, missing solver, ...: reported, never a traceback
        print(f"SMT ({args.smt}) {cert}: re-check failed: {e}")
        return 1
    print(f"SMT ({args.smt}) {cert}: {summary.obligations} obligations, {summary.unsat} unsat, "
          f"{len(summary.sat)} sat, {len(summary.unknown)} unknown, {summary.seconds:.1f} s; {note}")
    if summary.sat and claim_verified:
        print(f"DISAGREEMENT: the checker verified the claim but {args.smt} refutes {summary.sat[:5]}")
        return 1
    if not summary.sat and not claim_verified:
        print("note: every exported obligation holds; the checker's refusal concerns what they add up to")
    if summary.unknown:
        print(f"not confirmed by {args.smt} (timeout or unknown): {summary.unknown[:5]}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from exporters.smt import export
    n, note = export(args.certificate, args.out, args.weights, args.smt_sample)
    print(f"wrote {n} SMT-LIB2 obligations to {args.out}/ ({note}); unsat = holds")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from exporters.weights_import import import_weights
    digest = import_weights(args.source, args.out)
    print(f"wrote {args.out}\nsha256 {digest}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from certify.strategies import all_strategies
    from certify.sweep import sweep
    models = _sweep_models(args.models)[: args.limit_models]
    names = list(all_strategies()) if args.strategies == "all" else \
        [s.strip() for s in re.split(r",(?![a-z0-9-]+=)", args.strategies) if s.strip()]  # variants hold commas
    unknown = [n for n in names if n not in all_strategies()]
    if unknown:
        raise KeyError(f"unknown strategies {unknown}; `certify strategies` lists them")
    table = sweep(models, names, args.out, args.scheduler, args.workers)
    from certify.sweep import read_table
    rows = read_table(args.out)
    failed = [r for r in rows if r["status"] != "accepted"]
    print(f"{len(rows)} pairs in {table}; {len(failed)} not accepted")
    for r in failed[:10]:
        print(f"  {r['model']} {r['strategy']}: {r['status']}: {r['error'][:200]}")
    return 1 if failed else 0


def _sweep_models(spec: str) -> list[tuple[str, str, str | None, str | None]]:
    if spec.startswith("zoo:"):
        which = spec[4:]
        chosen = [e for e in zoo.entries() if which == "all" or f"k{e.k}" == which]
        if not chosen:
            raise ValueError(f"no zoo models match {spec!r}")
        return [(e.name, str(e.path), e.name, e.accuracy) for e in chosen]
    out = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        path, name = zoo.resolve(item)
        entry = zoo.lookup(name) if name else None
        out.append((name or Path(path).stem, str(path), name, entry.accuracy if entry else None))
    return out


def cmd_report(args: argparse.Namespace) -> int:
    from certify.report import report
    figure, table = report(args.dir)
    print(Path(table).read_text() + f"\nfigure: {figure}\ntable:  {table}")
    return 0


COMMANDS = {"report": cmd_report, "sweep": cmd_sweep, "export": cmd_export, "import": cmd_import, "train": cmd_train, "run": cmd_run, "check": cmd_check, "zoo": cmd_zoo,
            "strategies": cmd_strategies}
