"""A dump of the PostgreSQL database holds no ID number, phone number or address in clear."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from tests.pgcluster import find_bindir
from zhiyuan.people import services


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # pg_dump reads committed data from its own connection
def test_pg_dump_has_no_plaintext_personal_data(registration, tmp_path: Path) -> None:
    data = registration()
    profile = services.volunteer_register(**data)
    services.profile_update(profile=profile, actor=profile.user, address="东城区多福巷 12 号")
    settings = connection.settings_dict
    command = [
        str(find_bindir() / "pg_dump"),
        "--host",
        settings["HOST"],
        "--username",
        settings["USER"],
        "--dbname",
        settings["NAME"],
        "--data-only",
    ]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    dump = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert "COPY public.accounts_user" in dump  # the dump really holds the tables
    assert data["phone"] not in dump
    assert data["document_number"] not in dump
    assert "多福巷" not in dump
    assert profile.volunteer_number in dump  # public identifiers are not hidden
