from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Any, tmp_path: Any) -> None:
    # Uploaded certificates and evidence go to a throw-away directory.
    settings.MEDIA_ROOT = tmp_path / "media"
