"""A lived-in inbox for the agent UI's benchmark and screenshots: people and teams, one inbox
per channel (SMS, WhatsApp, Messenger, Telegram, email), two dozen customers with realistic
names and messages in both directions, notes, a failed send, an HTML email with a remote
image, assignments to agents and teams, and one conversation of 5,000 messages.

Everything is written through the app's own paths: ``actions.*`` (users, teams, inboxes
through their adapter, replies, notes, assignments, status), the ingest action for
customers' messages, and the email channel's own reading of a raw mail. Replies go out
through the real delivery worker to the test suite's fake providers (tests/fakes), so they
end up sent, or failed where the fake refuses. Time is the app's clock: it starts a day
ago and moves forward as the story goes, so the timeline has real gaps and ends now.

    async with seeded(tmp_dir) as s:       # the app is served at s.url while inside
        ...                                # s.db_url / s.media_dir serve it again later

The 5,000 messages are ingested 100 at a time, concurrently, so the group-commit writer
puts each batch in a few transactions; the whole seeding took 15-20 s on the shared 2-core
machine, most of it the replies going one by one through the delivery worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from starlette.types import Receive, Scope, Send

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from inbox import actions, queries  # noqa: E402
from inbox.actions.inboxes import setup_inbox  # noqa: E402
from inbox.config import Settings  # noqa: E402
from inbox.domain.access import Viewer  # noqa: E402
from inbox.domain.channels import InboundMessage, StatusUpdate  # noqa: E402
from inbox.domain.clock import MovableClock  # noqa: E402
from inbox.domain.credentials import hash_password  # noqa: E402
from tests.fakes.messenger import FakeGraph as FakeMessenger  # noqa: E402
from tests.fakes.telegram import FakeTelegram  # noqa: E402
from tests.fakes.twilio import FakeTwilio  # noqa: E402
from tests.fakes.whatsapp import FakeGraph as FakeWhatsApp  # noqa: E402
from tests.helpers.email import smtp_sink  # noqa: E402
from tests.helpers.server import free_port, serve  # noqa: E402
from ui.app import create_app  # noqa: E402
from webhooks.email.inbound import accept as accept_mail  # noqa: E402

PASSWORD = "correct horse battery"
SECRET_KEY = "ui-bench"  # the seeding app's and any later server's: inbox secrets are kept under it
# Logins as tests/conftest.py names them (so tests.helpers.browser.login works), with real names.
PEOPLE = [("admin", "admin", "Priya Natarajan"), ("lead", "lead", "Marcus Webb"),
          ("agent", "agent", "Sofia Rossi"), ("agent2", "agent", "Tom Becker"), ("agent3", "agent", "Lena Park")]
TEAMS = {"Billing": ["agent", "agent2"], "Technical": ["agent2", "agent3"]}

ACCOUNT_SID, AUTH_TOKEN, SMS_NUMBER = "AC" + "7" * 32, "ui-bench-twilio-token", "+15550001111"
WA_PHONE_ID, WA_TOKEN = "106540352242922", "EAAGuibench0123456789"
PAGE_ID, PAGE_TOKEN = "106412345678901", "EAAGuibenchPageAccessToken"
BOT_TOKEN = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
MAIL_ADDRESS = "support@northwind-shop.example"
REMOTE_IMAGE = "https://cdn.northwind-mail.example/spring/banner.png"

# Who writes, on which channel, and how the conversation went. A script line is
# (who, text): "c" the customer, "a"/"agent2"/... a reply by that person, "note:<who>" a
# private note. Then who it is assigned to (a login or None), its team, and its status.
Script = list[tuple[str, str]]


@dataclass
class Customer:
    key: str
    channel: str
    name: str
    handle: str
    script: Script
    assignee: str | None = None
    team: str | None = None
    status: str = "open"
    attributes: dict[str, str] = field(default_factory=dict)


CUSTOMERS: list[Customer] = [
    Customer("dana", "sms", "Dana Whitfield", "+15557654321", [
        ("c", "Hi, my order #4821 hasn't arrived yet. It was due Monday."),
        ("agent", "Sorry about that, Dana! Let me check with the carrier."),
        ("note:agent", "Carrier reports delays in the Midwest; refund the shipping if it's not there by Friday."),
        ("c", "Thanks. Tracking still says 'in transit'.")], "agent", "Billing", attributes={"plan": "gold"}),
    Customer("marco", "sms", "Marco Bellini", "+15551112222", [
        ("c", "Can I change the delivery address on order #4830?"),
        ("agent2", "Yes, as long as it hasn't shipped. What's the new address?"),
        ("c", "221 Baker Street, Apt 3, Portland OR 97201")], "agent2"),
    Customer("aisha", "sms", "Aisha Khan", "+15553334444", [
        ("c", "Do you ship to Canada?")]),
    Customer("liam", "sms", "Liam O'Connor", "+15559876543", [
        ("c", "My promo code SPRING20 isn't working at checkout"),
        ("agent", "Let me look into it: I'll text you a new code in a minute.")], "agent", status="pending"),
    Customer("grace", "sms", "Grace Liu", "+15552468013", [
        ("c", "Is the blue kettle back in stock?"),
        ("agent3", "It is! We restocked yesterday."),
        ("c", "Great, ordered. Thanks!")], "agent3", status="resolved"),
    Customer("jonas_wa", "whatsapp", "Jonas Schmidt", "4915112345678", [
        ("c", "Hallo! Meine Bestellung kam beschädigt an, der Griff ist abgebrochen."),
        ("agent", "Das tut mir leid, Jonas. Können Sie ein Foto schicken?"),
        ("c", "Klar, schicke ich gleich."),
        ("c", "Hier ist es. Kann ich einen Ersatz bekommen statt Geld zurück?"),
        ("note:agent", "Replacement approved by @lead: ship from the Berlin warehouse.")], "agent", "Billing"),
    Customer("lucia", "whatsapp", "Lucía Fernández", "34612345678", [
        ("c", "¡Hola! ¿Tienen la talla M del abrigo verde?"),
        ("agent2", "¡Hola Lucía! Sí, nos quedan tres."),
        ("c", "Perfecto, lo pido ahora.")], "agent2"),
    Customer("ravi", "whatsapp", "Ravi Patel", "447700900123", [
        ("c", "Hi, I was charged twice for order #4799"),
        ("c", "Both charges show on my card statement from the 28th")], None, "Billing"),
    Customer("amara", "whatsapp", "Amara Okafor", "2348031234567", [
        ("c", "Good morning, when does the sale end?"),
        ("agent3", "Sunday at midnight, Amara!")], "agent3", status="resolved"),
    Customer("yuki", "whatsapp", "Yuki Tanaka", "819012345678", [
        ("c", "The app keeps logging me out after the update")], None, "Technical"),
    Customer("emma", "messenger", "Emma Johansson", "24681357924680135", [
        ("c", "Hi! Do you have gift cards?"),
        ("agent", "We do: from $10 to $200, sent by email."),
        ("c", "Lovely, can I schedule one for my sister's birthday?")], "agent"),
    Customer("noah", "messenger", "Noah Williams", "13579246801357924", [
        ("c", "Your store page says open till 9 but the door was locked at 8"),
        ("lead", "Sorry Noah, the hours changed this week; we're fixing the page.")], "lead"),
    Customer("chloe", "messenger", "Chloé Dubois", "11223344556677889", [
        ("c", "Bonjour, is the return free?")]),
    Customer("mateo", "messenger", "Mateo Silva", "99887766554433221", [
        ("c", "I'd like to cancel my subscription"),
        ("agent2", "I can help with that. Can you confirm the email on the account?"),
        ("c", "mateo.silva@example.com")], "agent2", "Billing", status="pending"),
    Customer("sven", "telegram", "Sven Lindqvist", "111222333", [
        ("c", "/start"),
        ("c", "Hi, the firmware update failed on my thermostat (model T-200)"),
        ("agent3", "Thanks Sven. Which version does the screen show under Settings > About?"),
        ("c", "v2.3.1"),
        ("note:agent3", "Known issue in 2.3.1: send the manual update link once QA confirms.")], "agent3", "Technical"),
    Customer("olga", "telegram", "Olga Petrova", "444555666", [
        ("c", "Can I pay by bank transfer?")], None),
    Customer("kofi", "telegram", "Kofi Mensah", "777888999", [
        ("c", "Order #4811 shows delivered but I have nothing"),
        ("agent", "I'm sorry! I've opened a claim with the courier.")], "agent"),
    Customer("ana", "email", "Ana Souza", "ana.souza@example.org", [
        ("c", "Hello,\n\nI'd like an invoice with our company's VAT number for order #4790.\n\nThanks,\nAna"),
        ("agent2", "Hi Ana,\n\nSure: could you send us the VAT number and the company's address?\n\nBest,\nTom")],
        "agent2", "Billing"),
    Customer("jonas_mail", "email", "Jonas Schmidt", "jonas.schmidt@example.de", [
        ("c", "Hello, I wrote on WhatsApp too: the kettle handle broke. Photo attached in the other chat.")]),
    Customer("hannah", "email", "Hannah Becker", "hannah@becker-design.example", [
        ("html", "")], "agent", "Billing"),
    Customer("oliver", "email", "Oliver Grant", "oliver.grant@example.co.uk", [
        ("c", "Hi team, is there a bulk discount for 50+ units?"),
        ("lead", "Hi Oliver, yes: 15% from 50 units. I'll send a quote today.")], "lead", status="resolved"),
    Customer("mei", "email", "Mei Chen", "mei.chen@example.com", [
        ("c", "My account is locked after too many password attempts.")], None, "Technical"),
    Customer("fatima", "sms", "Fatima Al-Sayed", "+15556667777", [
        ("c", "Please stop the marketing texts, thanks"),
        ("agent", "Done, Fatima: you won't get promotions any more.")], "agent"),  # this reply fails (see below)
    Customer("big", "telegram", "Pat Morgan", "123123123", [], "agent", "Technical", attributes={"plan": "enterprise"}),
]
FAILED = "fatima"  # the fake Twilio refuses this customer's reply: a failed send in the list
BIG = "big"  # the customer with the long conversation
HTML_EMAIL = "hannah"
BIG_LINES = [
    ("in", "The dashboard export is timing out again for the March report"),
    ("out", "Thanks Pat, I'm checking the export queue now."),
    ("in", "It worked for February, only March fails"),
    ("out", "Found it: one of the March rows has an invalid date. Fixing it on our side."),
    ("in", "Great, I'll try again in an hour"),
    ("in", "Still failing, same error: 'export exceeded 30s'"),
    ("out", "Could you try with the 'compact' option ticked? It skips the attachments."),
    ("in", "That worked, thank you!"),
]


class PastClock(MovableClock):
    """The app's clock, started ``behind`` ago: the seeded story then happens over real
    gaps of time, moving forward with ``advance``, and ends at about the real now."""

    def __init__(self, behind: timedelta) -> None:
        super().__init__()
        self.offset = -behind


@dataclass
class Seeded:
    url: str  # the seeding app, served while inside ``seeded``
    db_url: str
    media_dir: str
    app: Any
    tokens: dict[str, str]  # login -> API token
    users: dict[str, dict[str, Any]]
    inboxes: dict[str, dict[str, Any]]  # kind -> inbox
    conversations: dict[str, int]  # customer key -> conversation id
    counts: dict[str, int] = field(default_factory=dict)

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def graph_router(whatsapp: Any, messenger: Any) -> Callable[[Scope, Receive, Send], Any]:
    """WhatsApp's Cloud API and Messenger share graph.facebook.com: send a request to the
    WhatsApp fake when its path names the WhatsApp phone number id, else to Messenger's."""
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        wants_whatsapp = scope["type"] == "http" and (WA_PHONE_ID in scope["path"]
                                                      or "whatsapp_business" in scope["path"])
        await (whatsapp.app if wants_whatsapp or scope["type"] == "lifespan" else messenger.app)(scope, receive, send)
    return app


def html_mail(customer: Customer, when: Any) -> bytes:
    """A formatted newsletter-style mail with a remote image (which the UI keeps blocked)."""
    mail = EmailMessage()
    mail["From"], mail["To"] = f"{customer.name} <{customer.handle}>", MAIL_ADDRESS
    mail["Subject"], mail["Message-ID"] = "Wrong colour in my order #4805", make_msgid(domain="becker-design.example")
    mail["Date"] = format_datetime(when)
    mail.set_content("Hi,\n\nThe lamp I received is green, but I ordered the sand colour (see the photo "
                     "from your site below).\n\nCould you swap it?\n\nHannah")
    mail.add_alternative(
        "<div style='font-family:Georgia,serif'><p>Hi,</p><p>The lamp I received is <b>green</b>, but I ordered "
        "the <b>sand</b> colour:</p>"
        f"<p><img src='{REMOTE_IMAGE}' alt='Sand lamp from your catalogue' width='320'></p>"
        "<p>Could you swap it?</p><p style='color:#666'>Hannah Becker<br>Becker Design Studio</p></div>",
        subtype="html")
    return mail.as_bytes()


def plain_mail(customer: Customer, text: str, when: Any) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"] = f"{customer.name} <{customer.handle}>", MAIL_ADDRESS
    mail["Subject"], mail["Message-ID"] = text.split("\n")[0][:60], make_msgid(domain="example.org")
    mail["Date"] = format_datetime(when)
    mail.set_content(text)
    return mail.as_bytes()


def inbound(inbox: dict[str, Any], customer: Customer, text: str, ids: Any, when: Any,
            direction: str = "in") -> InboundMessage:
    kind = customer.channel
    phone = customer.handle if kind == "sms" else ("+" + customer.handle if kind == "whatsapp" else None)
    return InboundMessage(
        inbox_id=inbox["id"], kind=kind, handle=customer.handle, provider_message_id=f"{kind}-{next(ids)}",
        text=text, timestamp=when, profile_name=None if kind == "sms" else customer.name, phone=phone,
        direction=direction)


@contextlib.asynccontextmanager
async def seeded(directory: Path, big_messages: int = 5000, customers: list[Customer] | None = None,
                 ) -> AsyncIterator[Seeded]:
    """Seed a fresh SQLite file under ``directory`` and serve that app while inside."""
    customers = CUSTOMERS if customers is None else customers
    twilio = FakeTwilio({ACCOUNT_SID: AUTH_TOKEN})
    whatsapp, messenger = FakeWhatsApp({WA_PHONE_ID: WA_TOKEN}), FakeMessenger({PAGE_ID: PAGE_TOKEN})
    telegram = FakeTelegram([BOT_TOKEN])
    async with (serve(twilio.app) as twilio_url, serve(graph_router(whatsapp, messenger)) as graph_url,
                serve(telegram.app) as telegram_url, smtp_sink() as sink):
        port = free_port()
        db_url, media_dir = f"sqlite:///{directory}/inbox.db", str(directory / "media")
        settings = Settings(database_url=db_url, public_url=f"http://127.0.0.1:{port}", secret_key=SECRET_KEY,
                            twilio_api_base=twilio_url, graph_api_base=graph_url, telegram_api_base=telegram_url,
                            media_dir=media_dir, smtp_listen=f"127.0.0.1:{free_port()}", email_dkim_resolver="off",
                            retry_base_seconds=0.05, retry_max_seconds=0.2, max_attempts=2)
        clock = PastClock(timedelta(hours=24))
        app = create_app(settings, clock)
        ctx = app.state.ctx
        ctx.db.migrate()
        async with serve(app, port) as url:
            s = await _seed(app, ctx, clock, url, db_url, media_dir, customers, big_messages,
                            twilio, sink.port)
            yield s


async def _seed(app: Any, ctx: Any, clock: PastClock, url: str, db_url: str, media_dir: str,
                customers: list[Customer], big_messages: int, twilio: FakeTwilio, smtp_port: int) -> Seeded:
    users, tokens = await _people(ctx)
    teams = {}
    for name, members in TEAMS.items():
        teams[name] = await ctx.db.write(lambda tx, n=name, m=members: actions.create_team(
            tx, n, [users[w]["id"] for w in m]))
    team_of = {w: frozenset(t["id"] for n, t in teams.items() if w in TEAMS[n]) for w in users}
    viewers = {w: Viewer(users[w]["id"], users[w]["role"], team_of[w]) for w in users}
    inboxes = await _inboxes(app, smtp_port)
    ids = itertools.count(1)
    conversations: dict[str, int] = {}
    for customer in customers:
        clock.advance(timedelta(minutes=45))
        conv_id = await _story(ctx, clock, viewers, inboxes, customer, ids, twilio)
        conversations[customer.key] = conv_id
        await _settle(ctx, viewers, teams, users, customer, conv_id)
        if customer.key == BIG:
            await _big(ctx, clock, inboxes["telegram"], customer, ids, big_messages)
    clock.advance(max(timedelta(), -clock.offset))  # the story ends now
    counts = await ctx.db.read(_counts)
    return Seeded(url, db_url, media_dir, app, tokens, users, inboxes, conversations, counts)


async def _people(ctx: Any) -> tuple[dict[str, Any], dict[str, str]]:
    pw = hash_password(PASSWORD)
    users, tokens = {}, {}
    for login, role, name in PEOPLE:
        user = await ctx.db.write(lambda tx, lo=login, r=role, n=name: actions.create_user(
            tx, email=f"{lo}@example.com", name=n, role=r, password_hash=pw))
        users[login] = user
        tokens[login] = await ctx.db.write(lambda tx, u=user: actions.create_token(tx, u["id"], "ui-bench"))
    return users, tokens


async def _inboxes(app: Any, smtp_port: int) -> dict[str, dict[str, Any]]:
    """One inbox per channel, set up through each adapter (webhooks registered with the fakes)."""
    ctx, registry = app.state.ctx, app.state.registry
    setups = [
        ("sms", "Support line", {"phone_number": SMS_NUMBER, "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}),
        ("whatsapp", "WhatsApp", {"phone_number_id": WA_PHONE_ID, "access_token": WA_TOKEN,
                                  "app_secret": "ui-bench-app-secret", "verify_token": "ui-bench-verify"}),
        ("messenger", "Facebook page", {"page_id": PAGE_ID, "page_access_token": PAGE_TOKEN,
                                        "app_secret": "ui-bench-app-secret", "verify_token": "ui-bench-verify"}),
        ("telegram", "Telegram bot", {"bot_token": BOT_TOKEN, "secret_token": "ui-bench-telegram-secret"}),
        ("email", "Support mail", {"address": MAIL_ADDRESS, "smtp_host": "127.0.0.1", "smtp_port": smtp_port,
                                   "smtp_security": "none", "inbound_secret": "ui-bench-inbound-secret-0123"}),
    ]
    return {kind: await setup_inbox(ctx, registry, kind, name, settings) for kind, name, settings in setups}


async def _story(ctx: Any, clock: PastClock, viewers: dict[str, Viewer], inboxes: dict[str, Any],
                 customer: Customer, ids: Any, twilio: FakeTwilio) -> int:
    """The customer's messages, the replies and notes, in order, a few minutes apart."""
    inbox = inboxes[customer.channel]
    conv_id: int | None = None
    first = True
    script = customer.script or [("c", "Hi, quick question about our enterprise plan export")]
    for who, text in script:
        clock.advance(timedelta(minutes=4))
        if who in ("c", "html"):
            if customer.channel == "email":
                raw = html_mail(customer, clock.now()) if who == "html" else plain_mail(customer, text, clock.now())
                stored = await ctx.db.read(lambda c: queries.get_inbox(c, inbox["id"]))
                await accept_mail(ctx, stored, raw)
                conv_id = await ctx.db.read(lambda c: _conversation_of(c, customer.handle))
            else:
                conv_id = (await actions.record_inbound(ctx, inbound(inbox, customer, text, ids, clock.now()))
                           ).conversation_id
            if first and (customer.channel == "sms" or customer.attributes):  # SMS brings no name: an agent typed it
                conv = await ctx.db.read(lambda c: queries.get_conversation(c, conv_id))
                await actions.update_contact(ctx, viewers["admin"], conv["contact"]["id"],
                                             {"name": customer.name, "attributes": customer.attributes})
            first = False
        elif who.startswith("note:"):
            assert conv_id is not None
            await actions.add_note(ctx, viewers[who.split(":")[1]], conv_id, text)
        else:
            assert conv_id is not None
            if customer.key == FAILED:
                twilio.fail_next(400, 21610, "Attempt to send to unsubscribed recipient")
            message, _ = await actions.send_reply(ctx, viewers[who], conv_id, text)
            await _delivered(ctx, message["id"])
    assert conv_id is not None
    return conv_id


def _conversation_of(conn: Any, email: str) -> int:
    from sqlalchemy import select

    from inbox.domain.tables import CONTACTS, CONVERSATIONS
    row = conn.execute(select(CONVERSATIONS.c.id).join(CONTACTS, CONTACTS.c.id == CONVERSATIONS.c.contact_id)
                       .where(CONTACTS.c.email == email).order_by(CONVERSATIONS.c.id.desc())).first()
    return int(row[0])


async def _delivered(ctx: Any, message_id: int, timeout: float = 15) -> None:
    """Wait until the delivery worker has handed the reply to the provider (or given up on
    it), then play the provider's receipt: delivered, as the channel would report it."""
    async with asyncio.timeout(timeout):
        while True:
            message = await ctx.db.read(lambda c: queries.get_message(c, message_id))
            if message["status"] == "failed" or message["provider_message_id"]:
                break
            await asyncio.sleep(0.02)  # a seeding script polling the worker's result, not a test
    if message["status"] != "failed" and message["inbox_id"] is not None:
        await actions.record_status(ctx, StatusUpdate(inbox_id=message["inbox_id"],
                                                      provider_message_id=message["provider_message_id"],
                                                      status="delivered"))


async def _settle(ctx: Any, viewers: dict[str, Viewer], teams: dict[str, Any], users: dict[str, Any],
                  customer: Customer, conv_id: int) -> None:
    """Assignment, team and status as the story left them."""
    changes: dict[str, int | None] = {}
    if customer.assignee:
        changes["user_id"] = users[customer.assignee]["id"]
    if customer.team:
        changes["team_id"] = teams[customer.team]["id"]
    if changes:
        await actions.assign_conversation(ctx, viewers["lead"], conv_id, changes)
    if customer.status != "open":
        await actions.set_status(ctx, viewers["lead"], conv_id, customer.status)
    if customer.assignee and customer.status == "resolved":
        await actions.mark_read(ctx, viewers[customer.assignee], conv_id)


async def _big(ctx: Any, clock: PastClock, inbox: dict[str, Any], customer: Customer, ids: Any, n: int) -> None:
    """``n`` messages in one conversation, both directions (the business's as the channel's
    echo of a sent message), through the ingest action, a batch at a time concurrently."""
    batch = 100
    for start in range(0, n - 1, batch):
        clock.advance(timedelta(seconds=20))
        lines = [BIG_LINES[i % len(BIG_LINES)] for i in range(start, min(start + batch, n - 1))]
        await asyncio.gather(*(actions.record_inbound(ctx, inbound(inbox, customer, f"{text} (#{start + j + 1})",
                                                                    ids, clock.now(), direction))
                               for j, (direction, text) in enumerate(lines)))


def _counts(conn: Any) -> dict[str, int]:
    from sqlalchemy import func, select

    from inbox.domain.tables import CONTACTS, CONVERSATIONS, INBOXES, MESSAGES, NOTES, USERS
    out = {name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
           for name, table in (("users", USERS), ("inboxes", INBOXES), ("contacts", CONTACTS),
                               ("conversations", CONVERSATIONS), ("messages", MESSAGES), ("notes", NOTES))}
    out["failed"] = int(conn.execute(select(func.count()).select_from(MESSAGES)
                                     .where(MESSAGES.c.status == "failed")).scalar_one())
    out["largest"] = int(conn.execute(select(func.count()).select_from(MESSAGES).group_by(MESSAGES.c.conversation_id)
                                      .order_by(func.count().desc()).limit(1)).scalar_one())
    return out
