"""The rotating check-in code, without Django: windows, forgery, another shift."""

from __future__ import annotations

from zhiyuan.activities import qr

KEY = b"k" * 32
T0 = 1_772_413_200.0  # a moment at the start of a 30-second window


def test_a_code_changes_every_thirty_seconds() -> None:
    first = qr.make_code(KEY, 7, T0)
    assert qr.make_code(KEY, 7, T0 + 29.9) == first
    assert qr.make_code(KEY, 7, T0 + 30) != first


def test_a_code_counts_in_its_window_and_the_next_only() -> None:
    code = qr.make_code(KEY, 7, T0)
    assert qr.check_code(KEY, code, T0 + 5).outcome == qr.VALID
    assert qr.check_code(KEY, code, T0 + 59).outcome == qr.VALID
    assert qr.check_code(KEY, code, T0 + 60).outcome == qr.EXPIRED
    assert qr.check_code(KEY, code, T0 - 1).outcome == qr.EXPIRED  # from the future


def test_forged_and_foreign_codes() -> None:
    code = qr.make_code(KEY, 7, T0)
    prefix, _shift, window, mac = code.split(".")
    assert qr.check_code(KEY, f"{prefix}.8.{window}.{mac}", T0).outcome == qr.FORGED
    assert qr.check_code(KEY, f"{prefix}.7.{int(window) + 1}.{mac}", T0 + 30).outcome == qr.FORGED
    assert qr.check_code(b"x" * 32, code, T0).outcome == qr.FORGED
    assert qr.check_code(KEY, code, T0, expected_shift_id=9).outcome == qr.OTHER_SHIFT
    assert qr.check_code(KEY, "hello", T0).outcome == qr.MALFORMED
    assert qr.check_code(KEY, "zq1.a.b.c", T0).outcome == qr.MALFORMED


def test_seconds_left() -> None:
    assert qr.seconds_left(T0) == 30
    assert qr.seconds_left(T0 + 29.5) == 1
