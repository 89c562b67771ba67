"""The rotating check-in code shown on the organiser's phone, without Django.

A code names one shift and one 30-second window and carries an HMAC of both under a key only
the server holds, so it cannot be made up, moved to another shift, or kept for later:

    zq1.<shift id>.<window>.<mac>       window = floor(unix seconds / 30)

The organiser's page refreshes the code as windows pass. A scan is accepted in the code's own
window and in the next one (a code read at second 29 and sent at second 31 still counts); older
codes are "expired", codes whose MAC does not match are "forged", codes for another shift are
"other shift". The server's clock decides the window, never the phone's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

PREFIX = "zq1"
WINDOW_SECONDS = 30
# Windows after the code's own in which a scan still counts (network delay, slow camera).
GRACE_WINDOWS = 1
MAC_BYTES = 12  # 96 bits: a forgery is hopeless within a window's 30 seconds

VALID = "valid"
EXPIRED = "expired"
FORGED = "forged"
OTHER_SHIFT = "other_shift"
MALFORMED = "malformed"


def window_of(unix_seconds: float) -> int:
    return int(unix_seconds // WINDOW_SECONDS)


def _mac(key: bytes, shift_id: int, window: int) -> str:
    digest = hmac.new(key, f"{PREFIX}:{shift_id}:{window}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:MAC_BYTES]).decode().rstrip("=")


def make_code(key: bytes, shift_id: int, unix_seconds: float) -> str:
    window = window_of(unix_seconds)
    return f"{PREFIX}.{shift_id}.{window}.{_mac(key, shift_id, window)}"


def seconds_left(unix_seconds: float) -> int:
    """Seconds until the code shown now is replaced."""
    return WINDOW_SECONDS - int(unix_seconds % WINDOW_SECONDS)


@dataclass(frozen=True)
class Verdict:
    outcome: str  # VALID, EXPIRED, FORGED, OTHER_SHIFT or MALFORMED
    shift_id: int | None = None
    window: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == VALID


def parse(code: str) -> tuple[int, int, str] | None:
    parts = (code or "").strip().split(".")
    if len(parts) != 4 or parts[0] != PREFIX:
        return None
    _, shift, window, mac = parts
    if not (shift.isdigit() and window.isdigit()) or len(shift) > 18 or len(window) > 12:
        return None
    if not mac or len(mac) > 40:
        return None
    return int(shift), int(window), mac


def check_code(
    key: bytes, code: str, unix_seconds: float, expected_shift_id: int | None = None
) -> Verdict:
    """Is ``code`` a genuine, current code (for ``expected_shift_id``, if given)?

    The MAC is checked first, so a forged code is called forged whatever window it claims.
    """
    parsed = parse(code)
    if parsed is None:
        return Verdict(MALFORMED)
    shift_id, window, mac = parsed
    if not hmac.compare_digest(mac, _mac(key, shift_id, window)):
        return Verdict(FORGED, shift_id, window)
    if expected_shift_id is not None and shift_id != expected_shift_id:
        return Verdict(OTHER_SHIFT, shift_id, window)
    now = window_of(unix_seconds)
    if not 0 <= now - window <= GRACE_WINDOWS:
        # A code from the future is as wrong as a stale one: both are outside the window.
        return Verdict(EXPIRED, shift_id, window)
    return Verdict(VALID, shift_id, window)
