"""The trusted checker: a certificate is accepted only if this package has itself proven its claim
from the weights file (docs/soundness.md). Standard library and numpy only; it never imports the
prover (certify/) or the exporters (tests/checker/test_trust_boundary.py enforces both).

TRUSTED names every file of the trusted base and its role (the test checks that none is missing).
"""

TRUSTED = {
    "__init__.py": "this list",
    "__main__.py": "python -m checker",
    "cli.py": "command line: arguments, verdict, exit code",
    "check.py": "driver: read, hash, look the rule up, compare the proven bound with the claim",
    "errors.py": "the three kinds of failure and their exit codes",
    "files.py": "reading the untrusted input files: regular files only, capped",
    "certificate.py": "strict certificate parser (exact numbers only, caps)",
    "safetensors.py": "own weights reader: SHA-256 of the bytes parsed, shapes",
    "dyadic.py": "exact dyadic matrices (every float32 weight is one)",
    "paths.py": "the weights by name and the model's path terms, exactly",
    "float32.py": "the float32 semantics' error bound on every logit",
    "interval.py": "outward-rounded float64 intervals and exp enclosure (the filter's number type)",
    "expo.py": "exact sign of a sum of exponentials (integer exp enclosures)",
    "numbers.py": "the two number types every rule's inequality is written over",
    "ops.py": "proof length: the operation counter",
    "rules/__init__.py": "the rule table, rules.Case (what the exporters read)",
    "rules/brute_force.py": "brute-force rule: every input decided",
    "rules/cubic.py": "cubic rule",
    "rules/subcubic.py": "subcubic rules",
    "rules/subcubic_bounds.py": "the subcubic rules' per-option bounds",
    "rules/subcubic_paper.py": "the paper's algorithms as subcubic options (attn=svd, logit=paper-*)",
    "rules/hybrid.py": "hybrid rule",
}
