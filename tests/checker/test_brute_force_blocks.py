"""Brute force's stage 2-3 blocks of 4,096 undecided inputs, on a model that leaves more than that
undecided per query (d_vocab 17, K 4: 4,913 inputs per query, most of them undecided by stage 1): the
count must be the plain float64 count (far from ties on this model), so a block skipped or
counted twice shows. Kills brute_force.py:112/113's block constants (run2 survivors; by hand)."""
from __future__ import annotations

from certify.model import Config
from conftest import checker_count, float64_count, random_state, write_state


def test_more_than_one_block_of_undecided_inputs_per_query(tmp_path):
    s = random_state(Config(4, 17, 8, 4), 2, scale=3.0, biases=True)  # the 4,096th undecided input of two
    assert checker_count(write_state(s, tmp_path / "b.safetensors")) == float64_count(s) == 9324  # queries is correct
