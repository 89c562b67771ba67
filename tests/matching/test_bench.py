"""The benchmark's contract: the JSON report, and files anyone can re-check independently."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from bench.matching import generate, main
from zhiyuan.matching.engine import NPZ_FIELDS, Instance, evaluate

NPZ_DTYPES = {
    "volunteer_xy_km": ("f", (2_000, 2)),
    "volunteer_skills": ("u", (2_000,)),
    "volunteer_slots": ("u", (2_000,)),
    "volunteer_cap": ("i", (2_000,)),
    "volunteer_rating": ("f", (2_000,)),
    "task_xy_km": ("f", (500, 2)),
    "task_skills": ("u", (500,)),
    "task_slot": ("i", (500,)),
    "task_need": ("i", (500,)),
    "task_urgency": ("i", (500,)),
    "max_km": ("f", ()),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("bench")
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["--scale", "S", "--seed", "4", "--out", str(out)]) == 0
    last = buffer.getvalue().strip().splitlines()[-1]
    return json.loads(last), out


def test_report_has_every_figure(run: tuple[dict, Path]) -> None:
    report, _ = run
    assert (report["scale"], report["seed"], report["volunteers"], report["tasks"]) == (
        "S",
        4,
        2_000,
        500,
    )
    assert set(report["methods"]) == {
        "exact",
        "engine",
        "random",
        "nearest_first",
        "best_utility_first",
    }
    for figures in report["methods"].values():
        assert figures["violations"] == 0
        for key in (
            "total_utility",
            "ratio_to_optimum",
            "filled_share",
            "mean_distance_km",
            "p95_distance_km",
            "jain_fairness",
            "seconds",
        ):
            assert key in figures
    assert report["methods"]["exact"]["ratio_to_optimum"] == 1.0
    assert report["methods"]["best_utility_first"]["ratio_to_optimum"] < 1.0
    assert 0.99 <= report["pruning"]["retention"] <= 1.0
    assert report["online"]["queries"] == 1_000
    assert report["online"]["p99_ms"] >= report["online"]["p50_ms"] > 0
    assert report["lp_proof"]["equal"] is True
    assert report["lp_proof"]["lp_fractional_variables"] == 0
    assert report["memory"]["peak_rss_main_mb_after_end_to_end"] > 0


def test_written_instance_and_assignments_recheck_independently(
    run: tuple[dict, Path],
) -> None:
    report, out = run
    with np.load(out / "instance.npz") as data:
        assert set(NPZ_FIELDS) <= set(data.files)
        for name, (kind, shape) in NPZ_DTYPES.items():
            assert data[name].dtype.kind == kind, name
            assert data[name].shape == shape, name
        assert float(data["max_km"]) == 10.0
    inst = Instance.load_npz(out / "instance.npz")
    for method, figures in report["methods"].items():
        with open(out / f"assignment-{method}.csv", newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == ["volunteer", "task"]
        pairs = np.array(rows[1:], dtype=np.int64).reshape(-1, 2)
        ev = evaluate(inst, pairs[:, 0], pairs[:, 1])
        assert ev.n_violations == 0, method
        assert ev.n_pairs == figures["pairs"]
        assert ev.total_utility == pytest.approx(figures["total_utility"], abs=1e-3)


def test_generator_is_reproducible_and_follows_the_spec() -> None:
    a = generate(2_000, 500, seed=9)
    b = generate(2_000, 500, seed=9)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert not np.array_equal(a["task_xy_km"], generate(2_000, 500, seed=10)["task_xy_km"])
    assert set(np.unique(a["volunteer_cap"])) <= {1, 2, 3}
    assert a["volunteer_rating"].min() >= 3.0 and a["volunteer_rating"].max() <= 5.0
    assert set(np.unique(a["task_urgency"])) <= {1, 2, 3}
    assert a["task_need"].min() >= 1 and a["task_need"].max() <= 10
    assert a["task_skills"].max() < 2**16 and a["volunteer_skills"].max() < 2**16
    required = np.array([bin(int(x)).count("1") for x in a["task_skills"]])
    assert set(np.unique(required)) == {0, 1, 2}
    free = np.array([bin(int(x)).count("1") for x in a["volunteer_slots"]])
    assert 5.0 <= free.mean() <= 7.0
    assert a["volunteer_slots"].max() < 2**21
    assert a["task_slot"].max() <= 20
