"""What the machine must provide for the platform: checked, never skipped."""

from __future__ import annotations

import subprocess


def test_a_cjk_font_is_installed() -> None:
    # Certificates and screenshots render Chinese; without a CJK font they show boxes.
    result = subprocess.run(
        ["fc-match", "-f", "%{family}", "Noto Sans CJK SC"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Noto Sans CJK" in result.stdout, "install Debian's fonts-noto-cjk (make system-deps)"
