"""Golden outputs: the same spikes (bit for bit) and the same metrics as when they were recorded.

They guard refactoring: moving code must not change a single spike. See tests/golden/cases.py
for what each case runs and how to re-record after a change meant to alter results.
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))

from cases import CASES, path_of  # noqa: E402

MARKS = {
    "ping_gamma_cpp_seed0": [pytest.mark.cpp_standalone],
    "ping_gamma_cpp_seed1": [pytest.mark.cpp_standalone],
}


def _params():
    for name in CASES:
        yield pytest.param(name, id=name, marks=MARKS.get(name, []))


@pytest.mark.parametrize("name", _params())
def test_golden_output_behavior(name, tmp_path):
    if name == "ei_readout_short":
        pytest.importorskip("torch", reason="needs the train extra (torch)")
    expected = json.loads(path_of(name).read_text())
    got = json.loads(json.dumps(CASES[name](tmp_path), sort_keys=True))
    # Exact equality: a refactoring moves code, it changes no arithmetic and no random draw.
    assert got == expected
