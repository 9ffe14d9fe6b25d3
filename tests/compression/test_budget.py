"""The budget's choice: within budget on validation, best by the objective, confirmed on test, fp32 otherwise."""

from __future__ import annotations

import pytest

from shipyard.compression.budget import LATENCY_TIE, drop, select


def variant(name, val, test, p50, size, within=True, status="ok"):
    return {
        "name": name,
        "status": status,
        "parity": {"within": within},
        "validation": {"f1": val, "log_loss": 1 - val},
        "test": {"f1": test, "log_loss": 1 - test},
        "latency": {"session": {"p50": p50}},
        "bytes": size,
    }


FP32 = variant("fp32", 0.95, 0.95, 300.0, 6_000_000)


def test_the_fastest_variant_within_budget_is_chosen_and_confirmed():
    found = select([FP32, variant("int8", 0.945, 0.947, 120.0, 1_600_000), variant("student", 0.90, 0.93, 80.0, 50_000)], "f1", 0.01, "latency")
    assert found["selected"] == "int8" and found["confirmed_on_test"]
    assert found["eligible"] == ["int8", "fp32"]
    assert "int8: 2.50x lower batch-1 latency than fp32" in found["reason"]


def test_latencies_within_the_tie_are_equal_and_the_smaller_file_wins():
    a = variant("a", 0.95, 0.95, 100.0, 400_000)
    b = variant("b", 0.95, 0.95, 100.0 * (1 + LATENCY_TIE * 0.9), 100_000)
    c = variant("c", 0.95, 0.95, 100.0 * (1 + LATENCY_TIE * 1.5), 10_000)
    assert select([FP32, a, b, c], "f1", 0.01, "latency")["selected"] == "b"


def test_size_objective_picks_the_smallest_file():
    found = select([FP32, variant("int8", 0.95, 0.95, 120.0, 1_600_000), variant("fp16", 0.95, 0.95, 310.0, 3_000_000)], "f1", 0.01, "size")
    assert found["selected"] == "int8" and "3.75x smaller file" in found["reason"]


def test_no_variant_within_budget_keeps_fp32_and_says_which_came_closest():
    found = select([FP32, variant("int8", 0.93, 0.95, 120.0, 1_600_000), variant("student", 0.90, 0.93, 80.0, 50_000)], "f1", 0.01, "latency")
    assert found["selected"] == "fp32" and found["eligible"] == ["fp32"]
    assert found["reason"].startswith("no variant stays within the budget (f1 drop <= 0.01 on validation); the closest, int8, loses 0.0200")


def test_test_split_never_chooses_but_can_veto():
    # 'student' is best on test, but validation chose 'int8', whose test drop is beyond the budget: fp32 stays.
    found = select([FP32, variant("int8", 0.95, 0.93, 100.0, 1_600_000), variant("student", 0.941, 0.96, 150.0, 50_000)], "f1", 0.01, "latency")
    assert found["chosen_on_validation"] == "int8" and found["selected"] == "fp32" and not found["confirmed_on_test"]
    assert "drops 0.0200 on test, beyond the budget 0.01: fp32 stays" in found["reason"]


def test_a_variant_outside_its_parity_tolerance_or_failed_is_not_eligible():
    found = select([FP32, variant("int8", 0.95, 0.95, 100.0, 1_600_000, within=False), variant("x", 0, 0, 1.0, 1, status="failed")], "f1", 0.01, "latency")
    assert found["selected"] == "fp32" and "fails its parity check" in found["reason"]


def test_lower_is_better_metrics_count_an_increase_as_the_drop():
    assert drop("log_loss", 0.10, 0.12) == pytest.approx(0.02) and drop("f1", 0.9, 0.88) == pytest.approx(0.02)
    found = select([FP32, variant("int8", 0.955, 0.95, 100.0, 1_600_000)], "log_loss", 0.001, "latency")
    assert found["selected"] == "int8"  # log_loss fell on validation: no drop


def test_the_reference_must_be_built():
    with pytest.raises(ValueError, match="reference"):
        select([variant("fp32", 0.9, 0.9, 1, 1, status="failed")], "f1", 0.01, "latency")
