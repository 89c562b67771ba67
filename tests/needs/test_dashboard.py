"""The centre's figures: open needs by state and category, times to dispatch, acceptance and
completion (median and p95), satisfaction and repeat needs, per community and period."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from zhiyuan.needs import charts, selectors, services
from zhiyuan.needs.selectors import percentile

T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95
    assert percentile([7.0], 95) == 7.0 and percentile([], 50) is None


def test_charts_escape_labels_and_carry_no_script() -> None:
    svg = charts.bar_chart([("<b>x</b>", 3), ("ok", 1)], title="t")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "<script" not in svg
    assert charts.bar_chart([], title="t") == "" and charts.column_chart([], title="t") == ""


@pytest.mark.django_db
def test_the_figures_of_a_period(world) -> None:
    volunteer = world.volunteers[0]
    with time_machine.travel(T0, tick=False) as clock:
        served = []
        for hours_to_dispatch in (1, 3):
            need = world.need()
            clock.shift(dt.timedelta(hours=hours_to_dispatch))
            services.need_dispatch(need=need, actor=world.dispatcher, volunteers=[volunteer])
            clock.shift(dt.timedelta(hours=1))
            services.need_accept(need=need, volunteer=volunteer)
            services.need_start(need=need, volunteer=volunteer)
            clock.shift(dt.timedelta(hours=1))
            services.need_complete(need=need, volunteer=volunteer, note="好了")
            served.append(need)
        services.need_rate(need=served[0], actor=world.resident, score=5)
        services.need_rate(need=served[1], actor=world.resident, score=3)
        world.need(poster=world.outsider, region=world.other_community.code)  # another community
        board = selectors.need_dashboard(
            [world.district.code], since=T0, until=T0 + dt.timedelta(days=1)
        )
        only_home = selectors.need_dashboard(
            [world.district.code],
            area=world.community.code,
            since=T0,
            until=T0 + dt.timedelta(days=1),
        )
        later = selectors.need_dashboard(
            [world.district.code], since=T0 + dt.timedelta(days=1), until=T0 + dt.timedelta(days=2)
        )
    assert board.total == 3 and only_home.total == 2 and later.total == 0
    assert dict((s, n) for s, _, n in board.by_state)["rated"] == 2
    assert (
        board.to_dispatch.n == 2
        and board.to_dispatch.median_hours == 2.0
        and board.to_dispatch.p95_hours == 3.0
    )
    assert board.to_accept.median_hours == 3.0
    assert board.to_complete.p95_hours == 5.0
    assert board.satisfaction == 0.5 and board.average_rating == 4.0
    assert (
        board.repeat_needs == 1 and board.repeat_people == 1
    )  # the resident asked twice for shopping
    assert [name for _, name, _, _ in board.by_community] == [
        world.community.name,
        world.other_community.name,
    ]


@pytest.mark.django_db
def test_the_outsiders_area_is_not_counted(world) -> None:
    world.need()
    board = selectors.need_dashboard(
        ["110102000000"], since=T0 - dt.timedelta(days=3650), until=T0 + dt.timedelta(days=3650)
    )
    assert board.total == 0
