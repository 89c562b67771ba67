from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from zhiyuan.core.models import AuditEvent
from zhiyuan.regions.models import Region
from zhiyuan.regions.selectors import region_path, region_subtree
from zhiyuan.regions.services import RegionImportError, region_import_csv

pytestmark = pytest.mark.django_db

GOOD = """code,name,parent_code
110000000000,北京市,
110100000000,市辖区,110000000000
110101000000,东城区,110100000000
110101001000,东华门街道,110101000000
110101001001,多福巷社区,110101001000
"""


def test_import_creates_the_hierarchy_and_is_audited() -> None:
    result = region_import_csv(text=GOOD)
    assert result.created == 5
    community = Region.objects.get(code="110101001001")
    assert community.parent_id == "110101001000"
    assert community.level == 5
    assert AuditEvent.objects.filter(action="regions.imported").count() == 1


def test_reimport_renames_without_duplicating() -> None:
    region_import_csv(text=GOOD)
    result = region_import_csv(text=GOOD.replace("多福巷社区", "多福巷社区（新）"))
    assert (result.created, result.updated) == (0, 5)
    assert Region.objects.get(code="110101001001").name == "多福巷社区（新）"
    assert Region.objects.count() == 5


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    ("bad_line", "line_no", "message"),
    [
        ("110101002000,景山街道,110101009000", 7, "unknown parent"),
        ("11010100200,景山街道,110101000000", 7, "12 digits"),
        ("110102001000,西长安街街道,110101000000", 7, "does not lie under"),
        ("110101002000,,110101000000", 7, "name is empty"),
        ("110101002000,景山街道", 7, "three columns"),
    ],
)
def test_a_bad_line_refuses_the_whole_file_and_names_the_line(
    bad_line: str, line_no: int, message: str
) -> None:
    with pytest.raises(RegionImportError, match=message) as caught:
        region_import_csv(text=GOOD + bad_line + "\n")
    assert caught.value.line == line_no
    assert str(caught.value).startswith(f"Line {line_no}: ")
    assert Region.objects.count() == 0  # all or nothing


def test_subtree_is_one_query() -> None:
    region_import_csv(
        text=GOOD + "110101002000,景山街道,110101000000\n110101002001,吉祥社区,110101002000\n"
    )
    with CaptureQueriesContext(connection) as queries:
        codes = [r.code for r in region_subtree("110101001000")]
    assert codes == ["110101001000", "110101001001"]
    assert len(queries) == 1
    assert [r.code for r in region_subtree("110101000000")][-1] == "110101002001"


def test_region_path_lists_the_ancestors_in_order() -> None:
    region_import_csv(text=GOOD)
    assert [r.name for r in region_path("110101001001")] == [
        "北京市",
        "市辖区",
        "东城区",
        "东华门街道",
        "多福巷社区",
    ]


@pytest.mark.postgres
def test_subtree_query_uses_the_primary_key_index_on_postgres() -> None:
    region_import_csv(text=GOOD)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        sql, params = region_subtree("110101000000").query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index" in plan and "regions_region_pkey" in plan


def test_a_reimport_cannot_orphan_a_region() -> None:
    region_import_csv(text=GOOD)
    with pytest.raises(RegionImportError, match="only the top region"):
        region_import_csv(text="110101001000,东华门街道,\n")
    assert Region.objects.get(code="110101001000").parent_id == "110101000000"
