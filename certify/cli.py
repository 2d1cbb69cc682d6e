"""certify: train Max-of-K transformers, prove accuracy bounds, write and check certificates."""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
import time
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

from certify import __version__, zoo

CHECK_EXIT_CODES = """exit codes: 0 accepted (and the bound is at least --min-accuracy), 1 rejected (the claim is
not established for these weights, or the bound is below --min-accuracy), 2 error (not a readable
certificate, unknown strategy, bad command line), 3 --time-limit ran out, 4 with --smt: the checker
accepted but the SMT solver did not confirm every obligation (sat, unknown or timed out); with
several certificates, the largest."""


class _Formatter(argparse.HelpFormatter):
    """Show an option's default where it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text \
                and action.option_strings and "default" not in text:
            text += " (default: %(default)s)"
        return text


def main(argv: list[str] | None = None) -> int:
    previous = sys.unraisablehook
    sys.unraisablehook = _redelivering(previous)
    try:  # Ctrl-C at any point of the command, also while it is still importing what it needs
        return _main(argv)
    except KeyboardInterrupt:
        print("certify: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.unraisablehook = previous


def _redelivering(hook):
    """An unraisable-exception hook that sends a swallowed Ctrl-C again. Python ignores an exception
    raised in a weakref callback or __del__, so a KeyboardInterrupt that lands in one (CI saw it in
    importlib's module-lock callback while the sweep imported Dask) was lost and the command ran on;
    a thread re-sends SIGINT so that it is raised once the callback has returned."""
    def redeliver(unraisable) -> None:
        if not issubclass(unraisable.exc_type, KeyboardInterrupt):
            return hook(unraisable)
        threading.Thread(target=_sigint_soon, daemon=True).start()
    return redeliver


def _sigint_soon() -> None:
    time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGINT)


def _main(argv: list[str] | None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version: 0; a bad command line: 2
        return 0 if e.code in (0, None) else 2
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:  # `certify ... | head`: the reader is gone, so is our output
        _silence_stdout()
        return 141
    except OSError as e:  # unreadable inputs, read-only or full output directories
        print(f"certify: error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except (ValueError, KeyError) as e:
        print(f"certify: error: {e.args[0] if isinstance(e, KeyError) and e.args else e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        print(f"certify: error: {args.command} needs {e.name}, which is not installed"
              + (": pip install 'certify[train]' (see README)" if e.name == "torch" else ""), file=sys.stderr)
        return 2


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="certify", description=__doc__, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"certify {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, formatter_class=_Formatter, **kw)
    _train_parser(command("train", "train a model with the paper's recipe (needs torch: certify[train])"))
    _run_parser(command("run", "prove bounds, write certificates, check them"))
    from checker.cli import add_arguments, parse_seconds
    chk = command("check", "check certificates with the independent checker", epilog=CHECK_EXIT_CODES)
    add_arguments(chk)
    chk.add_argument("--smt", choices=["z3", "cvc5"], help="also re-check the obligations with an SMT solver")
    chk.add_argument("--coq", action="store_true", help="also prove the claim as a Coq theorem (exit 0 only if Coq accepts)")
    _smt_sample_option(chk)
    chk.add_argument("--smt-timeout", type=parse_seconds, default=10.0, metavar="S",
                     help="seconds per solver call (a batch of obligations; one not confirmed in time is split)")
    chk.add_argument("--smt-jobs", type=_positive, metavar="N", help="SMT solver processes (default: one per core)")
    exp = command("export", "export a certificate: SMT-LIB2 obligations (smt) or a Coq development (coq)")
    exp.add_argument("format", choices=["smt", "coq"])
    exp.add_argument("certificate")
    exp.add_argument("-o", "--out", required=True, help="output directory (.smt2 files, or a Coq development)")
    exp.add_argument("--weights", help="weights file (overrides the certificate's model.path)")
    _smt_sample_option(exp)
    exp.add_argument("--smt-jobs", type=_positive, metavar="N", help="SMT export processes (default: one per core)")
    command("zoo", "list the shipped models")
    command("strategies", "list the proof strategies")
    sw = command("sweep", "prove and check many models x strategies on Dask (resumable)")
    sw.add_argument("--models", default="zoo:k4",
                    help="zoo:k4, zoo:all, a folder of models (e.g. from train --seeds), or comma-separated names/paths")
    sw.add_argument("--strategies", default="cubic,subcubic,hybrid", help="'all' or a comma-separated list")
    sw.add_argument("--out", required=True, help="sweep folder (results.csv, certs/, rows/)")
    sw.add_argument("--limit-models", type=int, metavar="N", help="only the first N models")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler (default: a LocalCluster)")
    sw.add_argument("--workers", type=int, help="LocalCluster workers (default: the machine's cores)")
    rp = command("report", "figure and table from a sweep directory")
    rp.add_argument("dir")
    imp = command("import", "import a torch / TransformerLens state dict (.pt) as safetensors (needs torch)")
    imp.add_argument("source", help="state dict file (.pt), loaded with weights_only=True")
    imp.add_argument("--out", required=True, help="output .safetensors path")
    return parser


def _int_list(text: str) -> list[int]:
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        seeds = []
    if not seeds:
        raise ValueError(f"--seeds: not a comma-separated list of integers (or 'paper'): {text!r}")
    return seeds


def _int_at_least(minimum: int):
    """An argparse type: an integer >= minimum."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value
    return parse


_positive, _count = _int_at_least(1), _int_at_least(0)


def _train_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", type=_positive, default=4, help="sequence length K")
    p.add_argument("--d-vocab", type=_positive, default=64, help="vocabulary size")
    p.add_argument("--d-model", type=_positive, default=32, help="residual stream width")
    p.add_argument("--d-head", type=_positive, default=32, help="attention head width")
    p.add_argument("--seed", type=int, default=123, help="training seed (one model)")
    p.add_argument("--steps", type=_positive, default=3000, help="AdamW steps of batch 128")
    p.add_argument("--out", help="output .safetensors file; with --seeds, the output folder "
                   f"(default there: {DEFAULT_SEEDS_DIR}/)")
    p.add_argument("--seeds", help="comma-separated seeds, or 'paper' for the paper's 151: train in "
                   "parallel on Dask into the --out folder, with a manifest.json of exact accuracies (resumable)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="with --seeds: an existing Dask scheduler")
    p.add_argument("--workers", type=int, help="with --seeds: LocalCluster workers")
    from certify.train import DEFAULT_MODE, MODES
    p.add_argument("--mode", choices=MODES, default=DEFAULT_MODE, help="ieee-v1: the same bits on any "
                   "machine (default); torch: this machine's kernels, as the pre-#17 zoo (docs/zoo.md)")
    p.add_argument("--verify-zoo", metavar="NAME", help="retrain a zoo model from its metadata and "
                   "compare its SHA-256 with the manifest (exit 1 if they differ)")


DEFAULT_SEEDS_DIR = "models"


def _run_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=zoo.DEFAULT_MODEL, help="zoo name or .safetensors path")
    p.add_argument("--strategy", action="append", metavar="S",
                   help="strategy name, repeatable, or 'all' for every strategy (`certify strategies`); "
                   "default: the default ones, brute-force, cubic and subcubic")
    p.add_argument("--out", default="certs", help="folder for the certificates")
    p.add_argument("--semantics", choices=["exact-real", "float32"], default="exact-real",
                   help="what the claim is about: the exact real model, or also every float32 "
                   "execution (brute-force and cubic; docs/semantics.md)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing certificate file that holds a different certificate")


def cmd_train(args: argparse.Namespace) -> int:
    if args.verify_zoo:
        return _verify_zoo(args.verify_zoo, args.out)
    if args.seeds is not None:
        from certify.seeds import PAPER_SEEDS
        seeds = list(PAPER_SEEDS) if args.seeds == "paper" else _int_list(args.seeds)
        folder = Path(args.out or DEFAULT_SEEDS_DIR)
        if folder.suffix == ".safetensors" or folder.is_file():
            raise ValueError(f"with --seeds, --out is a folder, not {folder}")
        trained = zoo.train_many(args.k, args.d_vocab, seeds, args.steps, args.scheduler, args.workers, folder)
        print(f"trained {len(trained)} models into {folder}/ ({len(seeds) - len(trained)} already there); "
              f"manifest {folder / 'manifest.json'}")
        return 0
    if not args.out:
        raise ValueError("--out FILE.safetensors is required (or --seeds to train several models)")
    if Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a folder; give the .safetensors file to write")
    from certify.model import Config
    from certify.train import RECIPE, environment, machine, sampled_accuracy, train
    from certify.weights import save_model
    cfg = Config(args.k, args.d_vocab, args.d_model, args.d_head)
    start = time.perf_counter()
    model, loss = train(cfg, args.seed, steps=args.steps, mode=args.mode)
    digest = save_model(model, args.out, {**RECIPE, "steps": args.steps, "seed": args.seed,
                                          **environment(args.mode)})
    print(f"trained {args.out} in {time.perf_counter() - start:.1f} s (mode {args.mode} on {machine()}): "
          f"final loss {loss:.5f}, sampled accuracy {sampled_accuracy(model):.5f}\nsha256 {digest}")
    return 0


def _verify_zoo(name: str, out: str | None) -> int:
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        result = zoo.verify(name, out or Path(tmp) / f"{name}.safetensors", progress=True)
    same = "identical to" if result.ok else "DIFFERS from"
    print(f"{result.name}: retrained in {result.mode} mode: sha256 {result.actual}\n{same} the manifest's "
          f"{result.expected}")
    if not result.ok and result.mode == "torch":
        print("torch-mode models depend on the CPU's kernels (docs/zoo.md says which machines agree)")
    return 0 if result.ok else 1


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
    from certify.api import short_name
    from certify.strategies import all_strategies
    table = list(all_strategies().values())
    name_w = min(NAME_WIDTH, max(len(short_name(s.name)) for s in table))
    cost_w = max(len(s.cost) for s in table)
    for s in table:
        print(f"{_name_cell(short_name(s.name), name_w)}  {s.cost:<{cost_w}}  {s.summary}")
    if any(short_name(s.name) != s.name for s in table):
        print("\nsubcubic:EUPU/ATTN/ERR is short for subcubic:eupu=EUPU,attn=ATTN,err=ERR; both are accepted",
              file=sys.stderr)
    return 0


NAME_WIDTH = 40  # longer strategy names get a line of their own, so the columns stay aligned


def _name_cell(name: str, width: int) -> str:
    return f"{name:<{width}}" if len(name) <= width else f"{name}\n{'':<{width}}"


def cmd_run(args: argparse.Namespace) -> int:
    from certify import api
    out = _out_folder(args.out)
    model = api.load(args.model)
    chosen = _chosen_strategies(args.strategy)
    table = _RunTable(model, [s.name for s in chosen], args.semantics)
    status, written = 0, 0
    for strat in chosen:
        reason = api.skip_reason(model, strat, args.semantics)
        if reason:
            table.skipped(strat.name, reason)
            continue
        with _ticker(api.short_name(strat.name)) as phase:
            run = api.prove(model, strat.name, semantics=args.semantics, out=out, force=args.force,
                            on_phase=phase)
        table.row(run)
        status, written = max(status, run.result.exit_code), written + 1
    if not written:
        print("no certificates written: no chosen strategy applies to this model", flush=True)
        return 2
    print(f"certificates in {out}/", flush=True)
    return status


def _out_folder(out: str) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {out} is a file; --out names the folder for the certificates")
    if path.suffix == ".json":
        raise ValueError(f"--out {out} looks like a file name; --out names the folder for the certificates "
                         "(each certificate's name says its model, strategy and semantics)")
    return path


def _chosen_strategies(names: list[str] | None) -> list:
    from certify import api
    from certify.strategies import all_strategies
    if not names:
        return api.default_strategies()
    if "all" in names:
        return list(all_strategies().values())
    chosen = {s.name: s for s in map(api.strategy, names)}  # one row per strategy, however spelt
    return list(chosen.values())


class _RunTable:
    """`certify run`'s table, one row printed as soon as its strategy is done; the columns' widths
    are fixed up front from the chosen strategies' names and the model's d_vocab^K."""
    MAX_FRACTION = 23

    def __init__(self, model, names: list[str], semantics: str) -> None:
        from certify.api import short_name
        self.total = model.d_vocab ** model.k
        self.name_w = min(NAME_WIDTH, max([len("strategy"), *(len(short_name(n)) for n in names)]))
        self.bound_w = min(self.MAX_FRACTION, 2 * len(str(self.total)) + 1)
        print(f"\nmodel {model.label}" + ("" if semantics == "exact-real" else f", semantics {semantics}"))
        print(f"{'strategy':<{self.name_w}} {'bound':>{self.bound_w}} {'decimal':>9} {'prove s':>8} "
              f"{'check s':>8} {'ops':>14}  verdict", flush=True)

    def fraction(self, bound: Fraction) -> str:
        text = f"{bound.numerator}/{bound.denominator}"
        return text if len(text) <= self.bound_w else "in cert."

    def row(self, run) -> None:
        from certify.api import short_name
        r = run.result
        bound = r.bound if r.bound is not None else _claimed_bound(run.path)
        frac, dec = ("-", "-") if bound is None else (self.fraction(bound), f"{float(bound):.6f}")
        print(f"{_name_cell(short_name(run.strategy), self.name_w)} {frac:>{self.bound_w}} {dec:>9} "
              f"{run.prove_seconds:>8.2f} {r.seconds:>8.2f} {r.ops:>14,}  {r.verdict}", flush=True)
        if run.variant:
            print(f"  (the search chose {short_name(run.variant)})", flush=True)
        if r.verdict != "accepted":
            print(f"  {run.path}: {r.reason}", flush=True)

    def skipped(self, name: str, reason: str) -> None:
        from certify.api import short_name
        print(f"{_name_cell(short_name(name), self.name_w)} skipped: {reason}", flush=True)


def _claimed_bound(path: Path) -> Fraction | None:
    """The bound a (rejected) certificate claims, for the table."""
    import json
    try:
        return Fraction(json.loads(path.read_text())["claim"]["accuracy_lower_bound"])
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return None


@contextmanager
def _ticker(name: str, stream=None):
    """A live `NAME: prove 12s` line on stderr (a terminal only) while a strategy proves and checks;
    yields the callback that names the current phase."""
    stream = stream or sys.stderr
    if not getattr(stream, "isatty", lambda: False)():
        yield lambda phase: None
        return
    from tqdm import tqdm
    bar = tqdm(total=None, desc=name, file=stream, leave=False, bar_format="{desc} {elapsed}")
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.5):
            bar.refresh()
    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield lambda phase: bar.set_description_str(f"{name}: {phase}")
    finally:
        stop.set()
        thread.join()
        bar.close()


def _smt_sample_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--smt-sample", type=_count, default=200, metavar="N",
                   help="brute force: random inputs re-checked besides the near-ties")


def cmd_check(args: argparse.Namespace) -> int:
    from checker.cli import check_all, report_failure, write_junit
    results = []
    try:
        for cert in args.certificates:  # one at a time, for a progress line between the verdicts
            with _ticker(f"check {cert}"):
                results += check_all(argparse.Namespace(**{**vars(args), "certificates": [cert], "junit": None}))
        if args.junit:
            write_junit(args.junit, list(zip(args.certificates, results)))
    except OSError as e:  # stdout closed, --junit not writable: exit 2, as python -m checker
        return report_failure(e, "certify check")
    status = max(r.exit_code for r in results)
    if args.smt:
        for cert, result in zip(args.certificates, results):
            status = max(status, _smt_recheck(args, cert, claim_verified=result.bound is not None))
    if args.coq:
        from exporters.coq import check_command
        status = max(status, max(check_command(cert, args.weights) for cert in args.certificates))
    return status


SMT_NOT_CONFIRMED = 4  # exit code: the checker accepted, the SMT second opinion did not confirm (docs/smt.md)


def _smt_recheck(args: argparse.Namespace, cert: str, claim_verified: bool) -> int:
    """Second opinion on one certificate: 0 if every obligation is unsat, else SMT_NOT_CONFIRMED
    (when the checker accepted; a rejected certificate keeps the checker's exit code)."""
    from exporters.smt import recheck
    try:
        summary, note = recheck(cert, args.smt, args.weights, args.smt_sample, int(args.smt_timeout * 1000),
                                jobs=args.smt_jobs)
    except Exception as e:  # unreadable certificate, missing solver, ...: reported, never a traceback
        print(f"SMT ({args.smt}) {cert}: NOT CONFIRMED: re-check failed: {e}")
        return SMT_NOT_CONFIRMED if claim_verified else 0
    print(f"SMT ({args.smt}) {cert}: {summary.obligations} obligations, {summary.unsat} unsat, "
          f"{len(summary.sat)} sat, {len(summary.unknown)} unknown, {summary.seconds:.1f} s; {note}")
    if summary.confirmed:
        print(f"SMT ({args.smt}): CONFIRMED" if claim_verified else
              "note: every exported obligation holds; the checker's refusal concerns what they add up to")
        return 0
    if summary.sat and claim_verified:
        print(f"DISAGREEMENT: the checker verified the claim but {args.smt} refutes {len(summary.sat)}:")
    for name in summary.sat:
        print(f"  sat      {name}")
    for item in summary.unknown:
        print(f"  unknown  {item}")
    if not claim_verified:
        return 0
    print(f"SMT ({args.smt}): NOT CONFIRMED ({len(summary.sat)} sat, {len(summary.unknown)} unknown or timed out)")
    return SMT_NOT_CONFIRMED


def cmd_export(args: argparse.Namespace) -> int:
    from checker.certificate import parse_certificate
    from checker.check import resolve_model_path
    from checker.errors import CheckFailure
    from checker.safetensors import read_weights
    try:  # the checker's own parser first: only a well-formed certificate reaches the exporter
        with open(args.certificate, "rb") as f:
            cert = parse_certificate(f.read())
        w = read_weights(args.weights or resolve_model_path(cert.model_path, args.certificate))
    except CheckFailure as e:
        raise ValueError(f"{args.certificate}: cannot export: {e}") from None
    if w.sha256 != cert.sha256:
        raise ValueError(f"{args.certificate}: cannot export: the weights have SHA-256 {w.sha256}, "
                         f"the certificate names {cert.sha256}")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a file, not a folder")
    if args.format == "coq":
        from exporters.coq import export_command
        return export_command(args.certificate, args.out, args.weights)
    from exporters.smt import export
    try:
        n, note, files = export(args.certificate, args.out, args.weights, args.smt_sample, args.smt_jobs)
    except (OSError, KeyboardInterrupt):
        raise
    except Exception as e:  # e.g. evidence the exporter cannot read: reported, never a traceback
        raise ValueError(f"{args.certificate}: cannot export: {type(e).__name__}: {e}") from None
    size = sum(f.stat().st_size for f in files)
    print(f"wrote {n} SMT-LIB2 obligations in {len(files)} files ({size / 1e6:.1f} MB) to {args.out}/ "
          f"({note}); unsat = holds")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from certify.weights_import import import_weights
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
    if Path(spec).is_dir():  # a folder of models, e.g. from `certify train --seeds`
        listed = zoo.entries(Path(spec))
        found = [(e.name, str(Path(spec) / f"{e.name}.safetensors"), None, e.accuracy) for e in listed] or \
            [(p.stem, str(p), None, None) for p in sorted(Path(spec).glob("*.safetensors"))]
        if not found:
            raise ValueError(f"no models in {spec}/ (no manifest.json, no .safetensors files)")
        return found
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
