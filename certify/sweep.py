"""Sweeps: prove + check every (model, strategy) pair on Dask, resumably, into one results table.

Each pair writes its certificate and a one-row result file atomically; a pair whose result file
exists is skipped, so an interrupted sweep resumes where it stopped and leaves no partial files.
A failing pair is recorded (status "failed" with the error) and the sweep goes on.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import ExitStack, contextmanager
from fractions import Fraction
from pathlib import Path

from certify.weights import atomic_write_bytes

COLUMNS = ["model", "strategy", "status", "bound", "bound_decimal", "exact_accuracy", "normalized",
           "ops", "prove_s", "check_s", "certificate", "certificate_sha256", "error"]


def pair_id(model: str, strategy: str) -> str:
    return f"{model}.{strategy.replace(':', '_').replace(',', '_').replace('=', '-').replace('/', '_')}"


def run_pair(model: str, weights: str, zoo_name: str | None, exact: str | None, strategy: str,
             out: str) -> dict:
    """Prove, write, check one pair; never raises (failures become rows)."""
    from checker.check import check_file
    from certify.certificate import certificate_dict, model_reference, write_certificate
    from certify.paths import load_float_model
    from certify.strategies import get
    from certify.weights import sha256_file
    row = {c: "" for c in COLUMNS} | {"model": model, "strategy": strategy}
    cert_path = Path(out) / "certs" / f"{pair_id(model, strategy)}.json"
    try:
        fm = load_float_model(weights)
        strat = get(strategy)
        skip = strat.applies(fm)
        if skip:
            raise ValueError(skip)
        t0 = time.perf_counter()
        proof = strat.prove(fm)
        prove_s = time.perf_counter() - t0
        write_certificate(cert_path, certificate_dict(proof, fm.k, fm.d_vocab, sha256_file(weights),
                                                      model_reference(weights, cert_path, zoo_name)))
        result = check_file(str(cert_path))
        row |= {"status": result.verdict, "bound": f"{proof.bound.numerator}/{proof.bound.denominator}",
                "bound_decimal": f"{float(proof.bound):.6f}", "ops": result.ops,
                "prove_s": f"{prove_s:.3f}", "check_s": f"{result.seconds:.3f}",
                "certificate": str(cert_path.relative_to(out)),
                "certificate_sha256": hashlib.sha256(cert_path.read_bytes()).hexdigest(),
                "error": "" if result.verdict == "accepted" else result.reason}
        if exact:
            row["exact_accuracy"] = exact
            row["normalized"] = f"{float(proof.bound / Fraction(exact)):.6f}"
    except Exception as e:  # recorded, the sweep goes on
        row |= {"status": "failed", "error": f"{type(e).__name__}: {e}"[:500]}
        traceback.print_exc(file=sys.stderr)
    atomic_write_bytes(_row_path(out, model, strategy), json.dumps(row, sort_keys=True).encode())
    return row


def _row_path(out: str | Path, model: str, strategy: str) -> Path:
    return Path(out) / "rows" / f"{pair_id(model, strategy)}.json"


def sweep(models: list[tuple[str, str, str | None, str | None]], strategies: list[str], out: str,
          scheduler: str | None = None, workers: int | None = None, progress: bool = True) -> Path:
    """models: (label, weights path, zoo name or None, exact accuracy or None). Returns the table."""
    pairs = [(m, s) for m in models for s in strategies if not _row_path(out, m[0], s).exists()]
    tasks = [(m[0], str(m[1]), m[2], m[3], s, out) for m, s in pairs]
    _remove_temp_files(out)
    try:
        run_all(run_pair, tasks, lambda row: f"{row['model']} {row['strategy'][:30]} {row['status']}",
                scheduler, workers, "sweep", len(models) * len(strategies) if progress else None)
    finally:  # the workers are gone: a temporary file left by one killed mid-write is garbage
        _remove_temp_files(out)
    return write_table(out)


def _remove_temp_files(out: str | Path) -> None:
    """Delete leftovers of atomic_write_bytes (".NAME.XXXX.tmp") from an interrupted run."""
    for sub in ("certs", "rows"):
        for tmp in (Path(out) / sub).glob(".*.tmp"):
            tmp.unlink(missing_ok=True)


def run_all(fn, tasks: list[tuple], describe, scheduler: str | None, workers: int | None, desc: str,
            total: int | None) -> list:
    """Run fn(*task) for every task on Dask (an existing scheduler, or a local cluster of
    single-threaded worker processes); results in completion order, with a progress bar and ETA."""
    if not tasks:
        return []
    from dask.distributed import Client, as_completed
    with ExitStack() as stack:
        tornado_log = logging.getLogger("tornado.application")
        tornado_log.addFilter(_sync_cancel_bug)
        stack.callback(tornado_log.removeFilter, _sync_cancel_bug)
        address = scheduler or stack.enter_context(_local_cluster(workers or os.cpu_count() or 1))
        client = stack.enter_context(_closing(Client(address)))
        bar = stack.enter_context(_closing(_bar(total, total - len(tasks), desc))) if total is not None else None
        results = []
        futures = [client.submit(fn, *task, pure=False) for task in tasks]
        try:
            for fut in as_completed(futures):
                results.append(fut.result())
                if bar is not None:
                    bar.set_postfix_str(describe(results[-1]), refresh=False)
                    bar.update(1)
        except BaseException:  # Ctrl-C: the scheduler's and nanny's shutdown chatter is not the user's news
            logging.getLogger("distributed").setLevel(logging.CRITICAL)
            client.cancel(futures)
            raise
    return results


def _sync_cancel_bug(record: logging.LogRecord) -> bool:
    """False for the one event-loop error a Ctrl-C can provoke in distributed (2026.8.0): sync()'s
    KeyboardInterrupt handler schedules cancel(), which reads its `future` before the coroutine has
    set it when the interrupt lands early, so tornado logs a NameError traceback. There is nothing to
    cancel then; every other record passes."""
    exc = record.exc_info[1] if record.exc_info else None
    return not (isinstance(exc, NameError) and "'future'" in str(exc)
                and any(f.name == "cancel" and f.filename.endswith("distributed/utils.py")
                        for f in traceback.extract_tb(exc.__traceback__)))


_CLUSTER = """
import sys
from dask.distributed import LocalCluster
cluster = LocalCluster(n_workers=int(sys.argv[1]), threads_per_worker=1, processes=True, dashboard_address=None)
print(cluster.scheduler_address, flush=True)
sys.stdin.read()  # until the sweep closes the pipe, however it ends
cluster.close()
"""


@contextmanager
def _local_cluster(workers: int):
    """The address of a LocalCluster run by a child process in its own session, closed on exit.
    Ctrl-C from the terminal reaches only the sweep's process group, so the sweep keeps its SIGINT
    handler throughout (a Ctrl-C at any moment, also while the workers start, is a
    KeyboardInterrupt here) and the workers never see it: they are shut down, not interrupted."""
    with tempfile.TemporaryFile("w+") as log, \
            _environ(DASK_LOGGING__DISTRIBUTED="error"):  # no CancelledError warnings on Ctrl-C
        proc = subprocess.Popen([sys.executable, "-c", _CLUSTER, str(workers)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        address = ""
        try:
            address = proc.stdout.readline().strip()
            if not address:
                log.seek(0)
                raise RuntimeError(f"the local Dask cluster did not start: {log.read()[-2000:]}")
            yield address
        finally:
            proc.stdin.close()
            try:  # a cluster still starting (Ctrl-C then) has nothing to shut down cleanly
                proc.wait(timeout=15 if address else 0)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the workers are in its process group
                proc.wait()


@contextmanager
def _closing(thing):
    try:
        yield thing
    finally:
        thing.close()


@contextmanager
def _environ(**values: str):
    """Set environment variables for the processes started in the block (then restore them)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def write_table(out: str | Path) -> Path:
    rows = [json.loads(p.read_text()) for p in sorted((Path(out) / "rows").glob("*.json"))]
    path = Path(out) / "results.csv"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())
    return path


def read_table(out: str | Path) -> list[dict]:
    with open(Path(out) / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def _bar(total: int, initial: int, desc: str):
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, desc=desc, file=sys.stderr, mininterval=0.5)
