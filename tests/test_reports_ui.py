"""The reports pages in a real browser (issue 16): a lead's /reports shows the figures of
GET /api/reports/overview for activity made the way the app makes it, breaks them down by
agent, and every number opens exactly the conversations behind it (paged with "More"); the
CSV link downloads the export of the same period; agents get neither the link nor the
pages; axe finds nothing serious, light or dark; a phone does not scroll sideways. Every
wait is for something to appear."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from playwright.async_api import Browser, Page, expect

from inbox.domain.clock import MovableClock
from inbox.queries.reports import CYCLE_COLUMNS
from tests.conftest import Live
from tests.helpers.browser import browser, login
from tests.test_accessibility import _axe
from tests.test_reports import _period, _traffic
from ui.pages.reports import delta
from ui.pages.sla import duration

__all__ = ["browser"]


def test_a_figure_moves_in_words_coloured_by_whether_that_is_good() -> None:
    faster = delta(600, 1260, "time", "down")
    assert (faster["direction"], faster["tone"], faster["text"], faster["was"]) == ("down", "good", "11 min", "21 min")
    assert faster["spoken"] == "down 11 min from 21 min in the previous period, better"
    assert delta(0.66, 0.73, "ratio", "up")["tone"] == "bad" and delta(0.66, 0.73, "ratio", "up")["text"] == "7 pts"
    more = delta(29, 27, "count", None)
    assert (more["direction"], more["tone"], more["text"]) == ("up", "neutral", "7%")  # volume: neither
    assert delta(3, 0, "count", None)["text"] == "new" and delta(5, 5, "count", None)["text"] == "no change"
    assert delta(None, 300, "time", "down")["text"] == "" and delta(300, None, "time", "down")["text"] == \
        "no earlier figure"


def _address(path: str, **params: str) -> str:
    return path + "?" + urlencode(params)


async def _lead(browser: Browser, live: Live, path: str, **context: Any) -> Page:
    page = await login(browser, live, "lead", locale="en-GB", **context)
    await page.goto(live.url + path)
    return page


async def test_a_lead_reads_the_overview_breaks_it_down_by_agent_and_drills_into_a_number(
        live: Live, browser: Browser, clock: MovableClock) -> None:
    await _traffic(live, clock)
    period = _period(live, clock)
    api = await live.get("/api/reports/overview", who="lead", params=period)
    total = api["metrics"]
    page = await _lead(browser, live, _address("/reports", **period))
    await expect(page.get_by_role("link", name="Reports")).to_have_attribute("aria-current", "page")
    for metric in ("conversations_created", "messages_in", "messages_out", "resolved"):
        await expect(page.locator(f".stat[data-metric={metric}] .stat-value a")).to_have_text(
            f"{total[metric]} " + ("conversations" if metric == "conversations_created"
                                   else metric.replace("_", " ")) + ": see them")
    await expect(page.locator(".stat[data-metric=conversations_created] .stat-note")).to_have_text(
        f"{total['conversations_reopened']} reopened")
    for metric in ("first_response", "reply", "resolution"):
        card = page.locator(f".stat[data-metric={metric}]")
        await expect(card.locator(".stat-value a")).to_contain_text(duration(total[metric]["median"]))
        await expect(card.locator(".stat-note")).to_have_text(
            f"p90 {duration(total[metric]['p90'])} · {total[metric]['count']} measured")
    await expect(page.locator(".stat[data-metric=sla] .stat-value")).to_have_text("–")  # no policy, no target
    await expect(page.locator(".stat[data-metric=csat]")).to_contain_text("No satisfaction answers in this period")
    # The previous period was empty: nothing to compare with, said so.
    await expect(page.locator(".stat[data-metric=messages_in] .delta")).to_contain_text("new")
    # The series' table adds up to the same as the cards, and its numbers are links too.
    days = page.locator("#days-table tbody tr")
    await expect(days).to_have_count(len(api["series"]))
    await page.get_by_text("The numbers by day").click()
    day = next(d for d in api["series"] if d["messages_in"])
    await expect(page.locator("#days-table tbody tr", has=page.locator(f"time[datetime='{day['date']}']"))
                 .locator("td").nth(2)).to_have_text(str(day["messages_in"]))
    # A heatmap cell clicked opens its messages; its number in the table is the same link.
    n, weekday, hour = max((n, d, h) for d, r in enumerate(api["heatmap"]) for h, n in enumerate(r))
    cell = page.locator(f".heat-area rect:nth-of-type({weekday * 24 + hour + 1})")
    await expect(cell).to_have_attribute("data-href", re.compile(f"weekday={weekday}&hour={hour}"))
    await cell.click()
    await expect(page).to_have_url(re.compile(re.escape("/reports/conversations")))
    await expect(page.locator("#drill-total")).to_have_text(str(n))
    await expect(page.locator("#report-drill")).to_contain_text(f"{hour:02d}:00–{hour:02d}:59")
    await page.go_back()
    await page.get_by_text("The numbers by hour").click()
    await expect(page.locator("#heat-table tbody tr").nth(weekday).locator("td").nth(hour).locator("a")) \
        .to_have_attribute("href", await cell.get_attribute("data-href") or "")

    # By agent: a row each, with the API's figures, and the total row the overview's.
    await page.get_by_role("navigation", name="Break down by").get_by_role("link", name="Agent").click()
    await expect(page).to_have_url(re.compile(re.escape("group=agent")))
    by_agent = await live.get("/api/reports/overview", who="lead", params={**period, "group": "agent"})
    names = [g["name"] or "Nobody" for g in by_agent["groups"]]
    await expect(page.locator("#breakdown-table tbody th")).to_have_text(names)
    for g in by_agent["groups"]:
        row = page.locator("#breakdown-table tbody tr", has=page.get_by_role("rowheader", name=g["name"] or "Nobody",
                                                                            exact=True))
        await expect(row.locator("td").nth(2)).to_have_text(str(g["metrics"]["messages_out"]))
        await expect(row.locator("td").nth(1)).to_have_text(str(g["metrics"]["messages_in"]))
    foot = page.locator("#breakdown-table tfoot td")
    await expect(foot.nth(1)).to_have_text(str(total["messages_in"]))
    await expect(foot.nth(4)).to_have_text(duration(total["first_response"]["median"]))

    # A number opens the facts behind it: exactly the API's drill-down, linked to each conversation.
    agent2 = next(g for g in by_agent["groups"] if g["name"] == "Agent2")
    row = page.locator("#breakdown-table tbody tr", has=page.get_by_role("rowheader", name="Agent2", exact=True))
    await row.locator("a[data-drill=messages_out]").click()
    await expect(page).to_have_url(re.compile(re.escape("/reports/conversations")))
    drill = await live.get("/api/reports/conversations", who="lead", params={
        **period, "metric": "messages_out", "group": "agent", "key": str(agent2["key"])})
    assert drill["total"] == agent2["metrics"]["messages_out"] > 0
    await expect(page.locator("#drill-total")).to_have_text(str(drill["total"]))
    await expect(page.locator("#drill-table tbody tr")).to_have_count(len(drill["items"]))
    shown = await page.locator("#drill-table tbody tr").evaluate_all(
        "rows => rows.map(r => [Number(r.dataset.fact), Number(r.dataset.conversation)])")
    assert shown == [[i["fact_id"], i["conversation_id"]] for i in drill["items"]]
    first = drill["items"][0]
    await expect(page.locator("#drill-table tbody tr").first.locator("th a")).to_have_attribute(
        "href", f"/inbox?tab=all&c={first['conversation_id']}")
    await expect(page.locator("#report-drill")).to_contain_text("Agent: Agent2")
    await page.locator("#drill-table tbody tr").first.locator("th a").click()
    await expect(page).to_have_url(live.url + f"/inbox?tab=all&c={first['conversation_id']}")
    await page.context.close()


async def test_more_pages_the_drill_down_by_the_api_cursor(live: Live, browser: Browser, clock: MovableClock) -> None:
    for n in range(101):  # one page of the drill-down is 100
        assert (await live.sms("+15557771234", f"message {n}")).status_code == 200
    today = clock.now().date()
    period = {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat(),
              "tz": "UTC"}
    drill = await live.get("/api/reports/conversations", who="lead", params={**period, "metric": "messages_in"})
    assert drill["total"] == 101 and drill["next_after"] is not None
    page = await _lead(browser, live, _address("/reports", **period))
    await page.locator(".stat[data-metric=messages_in] .stat-value a").click()
    rows = page.locator("#drill-table tbody tr[data-fact]")
    await expect(rows).to_have_count(100)
    await page.get_by_role("link", name="More").click()
    await expect(rows).to_have_count(101)
    await expect(page.get_by_role("link", name="More")).to_have_count(0)
    rest = await live.get("/api/reports/conversations", who="lead",
                          params={**period, "metric": "messages_in", "after": str(drill["next_after"])})
    assert await rows.last.get_attribute("data-fact") == str(rest["items"][-1]["fact_id"])
    await page.context.close()


async def test_the_csv_link_downloads_the_same_period_and_business_hours_follow_the_toggle(
        live: Live, browser: Browser, clock: MovableClock, tmp_path: Path) -> None:
    await _traffic(live, clock)
    period = _period(live, clock)
    page = await _lead(browser, live, _address("/reports", **period))
    await page.get_by_label("Business hours").check()
    await page.get_by_role("button", name="Show").click()
    await expect(page).to_have_url(re.compile(re.escape("hours=business")))
    await expect(page.locator("#report-period")).to_contain_text("business hours")
    link = page.get_by_role("link", name="Download CSV")
    href = await link.get_attribute("href")
    assert href is not None and href.startswith("/api/reports/cycles.csv?") and "hours=business" in href
    assert f"from={period['from']}" in href and "tz=America%2FNew_York" in href
    async with page.expect_download() as waiting:
        await link.click()
    download = await waiting.value
    assert download.suggested_filename == f"cycles-{period['from']}-{period['to']}.csv"
    target = tmp_path / "cycles.csv"
    await download.save_as(target)
    rows = list(csv.reader(io.StringIO(target.read_text())))
    assert rows[0] == list(CYCLE_COLUMNS)
    assert len(rows) - 1 == 6  # a row a cycle: 5 conversations, one of them reopened
    await page.context.close()


async def test_an_agent_has_no_link_and_is_refused_the_pages(live: Live, browser: Browser) -> None:
    page = await login(browser, live, "agent")
    await expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Conversations")).to_be_visible()
    await expect(page.get_by_role("link", name="Reports")).to_have_count(0)
    for path in ("/reports", "/reports/conversations?metric=messages_in"):
        response = await page.goto(live.url + path)
        assert response is not None and response.status == 403, path
        await expect(page.locator("body")).to_contain_text("Reports are for team leads and admins.")
    await page.context.close()
    async with httpx.AsyncClient(base_url=live.url) as anonymous:  # not signed in: to the login page
        r = await anonymous.get("/reports")
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


async def test_the_browser_zone_is_the_default_and_an_empty_period_says_so(live: Live, browser: Browser) -> None:
    page = await _lead(browser, live, "/reports", timezone_id="Asia/Tokyo")
    await expect(page).to_have_url(re.compile(re.escape("tz=Asia%2FTokyo")))
    await expect(page.locator("#report-tz")).to_have_value("Asia/Tokyo")
    await expect(page.locator("#report-empty")).to_contain_text("Nothing happened in this period")
    assert "NaN" not in await page.content()
    await page.goto(live.url + "/reports?tz=US/Eastern")  # a zone the list leaves out, typed in the address
    await expect(page.locator("#report-tz")).to_have_value("US/Eastern")
    await expect(page.locator("#report-period")).to_contain_text("US/Eastern")
    await page.goto(live.url + "/reports?from=2027-03-09&to=2027-03-01&tz=UTC")
    await expect(page.get_by_role("alert")).to_have_text(
        "The period starts after it ends: choose a From date before the To date.")
    await page.goto(live.url + "/reports?tz=Mars/Olympus")
    await expect(page.get_by_role("alert")).to_contain_text("is not a time zone")
    await page.context.close()


async def test_no_serious_axe_violation_light_dark_or_drilled_and_no_sideways_scroll_on_a_phone(
        live: Live, browser: Browser, clock: MovableClock) -> None:
    await _traffic(live, clock)
    period = _period(live, clock)
    page = await _lead(browser, live, _address("/reports", **period, group="agent"))
    await expect(page.locator("#breakdown-table tbody tr")).not_to_have_count(0)
    await page.get_by_text("The numbers by day").click()
    await page.get_by_text("The numbers by hour").click()
    found = await _axe(page, "/reports")
    await page.emulate_media(color_scheme="dark")
    await page.reload()
    await expect(page.locator("#breakdown-table")).to_be_visible()
    found += await _axe(page, "/reports dark")
    await page.emulate_media(color_scheme="light")
    await page.locator(".stat[data-metric=first_response] .stat-value a").click()
    await expect(page.locator("#drill-table tbody tr")).not_to_have_count(0)
    found += await _axe(page, "/reports/conversations")
    assert not found, "\n".join(found)

    await page.set_viewport_size({"width": 390, "height": 844})
    for path in (_address("/reports", **period, group="agent"),
                 _address("/reports/conversations", **period, metric="messages_in")):
        await page.goto(live.url + path)
        await expect(page.locator("main")).to_be_visible()
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390, path
        found += await _axe(page, f"{path} phone")
    assert not found, "\n".join(found)
    await page.context.close()
