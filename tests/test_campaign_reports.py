"""Campaigns in the reports API (docs/api.md, "Reports"): the campaigns started in a period
with their totals as the campaign itself answers them, their sum, the CSV of the same rows
and the reports page's link to it."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

from inbox.queries.campaigns import CAMPAIGN_COLUMNS
from tests.conftest import Live
from tests.test_campaigns import _campaign, _consent, _contacts, _post, _settled

SUMMED = ("pending", "queued", "sent", "delivered", "read", "failed", "skipped", "recipients", "replied", "opted_out")


async def _until(live: Live, campaign_id: int, **expected: int) -> dict[str, Any]:
    """The campaign once done with these totals: the worker and the provider's receipts caught up."""
    for _ in range(50):
        found = await _settled(live, campaign_id)
        if all(found["totals"][k] == n for k, n in expected.items()):
            return found
    raise AssertionError(f"campaign {campaign_id}: {found['totals']}, not {expected}")


def _day(campaign: dict[str, Any]) -> str:
    return str(datetime.fromisoformat(campaign["started_at"]).date())


async def _report(live: Live, first: str, last: str, who: str = "lead") -> dict[str, Any]:
    return await live.get("/api/reports/campaigns", who=who,  # type: ignore[no-any-return]
                          params={"from": first, "to": last, "tz": "UTC"})


async def test_the_reports_api_gives_each_campaign_of_the_period_its_totals_and_their_sum(live: Live) -> None:
    ids = await _contacts(live, "+15550004801", "+15550004802")
    early = await _campaign(live, name="Early run", purpose="transactional", messages=[
        {"channel": "sms", "inbox_id": live.inbox["id"], "text": "Early: your order has shipped."}])
    await _post(live, f"/api/campaigns/{early['id']}/start")
    await live.fake.wait_for_sent(2)
    early = await _settled(live, early["id"])

    live.app.state.ctx.clock.advance(timedelta(days=3))
    await _consent(live, ids["+15550004801"])
    sale = await _campaign(live, name="=Flash sale")  # marketing: the one opted in only
    await _post(live, f"/api/campaigns/{sale['id']}/start")
    await live.fake.wait_for_sent(3)
    await _settled(live, sale["id"])
    live.fake.fail_next(400, 21211, "The 'To' number is not a valid phone number.")
    reminder = await _campaign(live, name="Reminder", purpose="transactional", messages=[
        {"channel": "sms", "inbox_id": live.inbox["id"], "text": "Your appointment is tomorrow."}])
    await _post(live, f"/api/campaigns/{reminder['id']}/start")
    await live.fake.wait_for_sent(4)
    await _until(live, reminder["id"], failed=1)
    for m in live.fake.sent:
        if not m["body"].startswith("Early"):  # the early run's stay queued
            assert (await live.status_callback(m["sid"], "delivered", To=m["to"])).status_code in (200, 204)
    sale = await _until(live, sale["id"], delivered=1)
    reminder = await _until(live, reminder["id"], delivered=1, failed=1)
    assert (await live.sms("+15550004801", "Thanks!")).status_code == 200
    assert (await live.sms("+15550004802", "STOP")).status_code == 200  # a reply too

    later = await _report(live, _day(sale), _day(reminder))
    assert [c["id"] for c in later["items"]] == [sale["id"], reminder["id"]]  # the early run started before
    for item in later["items"]:
        assert item["totals"] == (await live.get(f"/api/campaigns/{item['id']}", who="lead"))["totals"]
        assert item["name"] in ("=Flash sale", "Reminder")
    total = later["total"]
    assert {k: total[k] for k in SUMMED} == {k: sum(c["totals"][k] for c in later["items"]) for k in SUMMED}
    assert total["skipped_by_reason"] == dict(sum((Counter(c["totals"]["skipped_by_reason"])
                                                   for c in later["items"]), Counter()))
    assert (total["recipients"], total["delivered"], total["failed"], total["skipped"]) == (4, 2, 1, 1)
    assert total["skipped_by_reason"] == {"no_consent": 1}
    assert total["replied"] == 2  # one a campaign: the reminder that failed had no reply of its own
    assert (later["from"], later["to"], later["tz"]) == (_day(sale), _day(reminder), "UTC")

    first = await _report(live, _day(early), _day(early))
    assert [c["id"] for c in first["items"]] == [early["id"]]
    assert (first["total"]["queued"], first["total"]["replied"], first["total"]["opted_out"]) == (2, 2, 1)
    both = await _report(live, _day(early), _day(reminder))
    assert [c["id"] for c in both["items"]] == [early["id"], sale["id"], reminder["id"]]
    assert both["total"]["recipients"] == 6
    before = str(date.fromisoformat(_day(early)) - timedelta(days=1))
    assert (await _report(live, before, before))["items"] == []

    # The CSV: a row per campaign, the same figures; a name cannot be taken for a formula.
    r = await live.client.get("/api/reports/campaigns.csv", headers=live.as_("lead"),
                              params={"from": _day(early), "to": _day(reminder), "tz": "UTC"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert f'filename="campaigns-{_day(early)}-{_day(reminder)}.csv"' in r.headers["content-disposition"]
    reader = csv.DictReader(io.StringIO(r.text))
    assert tuple(reader.fieldnames or ()) == CAMPAIGN_COLUMNS
    rows = list(reader)
    assert [int(row["campaign_id"]) for row in rows] == [c["id"] for c in both["items"]]
    for row, item in zip(rows, both["items"], strict=True):
        assert {k: int(row[k]) for k in SUMMED} == {k: item["totals"][k] for k in SUMMED}
        assert {k.removeprefix("skipped_"): int(v) for k, v in row.items()
                if k.startswith("skipped_") and v != "0"} == item["totals"]["skipped_by_reason"]
        assert (row["status"], row["purpose"], row["started_at"]) == (item["status"], item["purpose"],
                                                                      item["started_at"])
    assert [row["name"] for row in rows] == ["Early run", "'=Flash sale", "Reminder"]

    # The reports page links to the CSV of its period.
    page = await live.client.get("/reports", headers=live.as_("lead"),
                                 params={"from": _day(early), "to": _day(reminder), "tz": "UTC"})
    assert page.status_code == 200
    section = page.text[page.text.index('id="report-campaigns"'):]
    href = section[section.index('id="campaigns-csv" href="') + 25:].split('"', 1)[0].replace("&amp;", "&")
    assert (await live.client.get(href, headers=live.as_("lead"))).text == r.text


async def test_campaign_reports_are_for_leads_and_refuse_a_bad_period(live: Live) -> None:
    for path in ("/api/reports/campaigns", "/api/reports/campaigns.csv"):
        assert (await live.client.get(path, headers=live.as_("agent"))).status_code == 403
        assert (await live.client.get(path, headers=live.as_("lead"))).status_code == 200
        r = await live.client.get(path, headers=live.as_("lead"), params={"from": "2027-03-02", "to": "2027-03-01"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_period"
