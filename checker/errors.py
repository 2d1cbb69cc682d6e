"""Every way a check can end without an accepted claim: three kinds, each with its verdict and exit
code (the verdict table of docs/certificate.md#verdicts says which input lands in which).

  Malformed    error, exit 2     an input cannot be read as what it must be: the certificate (format,
                                 fields, evidence types), a file that is missing, unreadable or not a
                                 regular file, the command line, a report that cannot be written;
                                 also a float environment the checker cannot run in (not IEEE)
  Reject       rejected, exit 1  the inputs are well-formed but the claim is not established: the
                                 weights do not match or are no model this checker reads, evidence
                                 values are wrong, the bound exceeds what the rule proves
  OutOfBudget  error, exit 3     a cap on the model's size or the work, or the time budget, was reached
                                 before the check finished: nothing was established, nothing refuted
"""
from __future__ import annotations


class CheckFailure(Exception):
    verdict: str
    exit_code: int


class Malformed(CheckFailure):
    verdict, exit_code = "error", 2


class Reject(CheckFailure):
    verdict, exit_code = "rejected", 1


class OutOfBudget(CheckFailure):
    verdict, exit_code = "error", 3
