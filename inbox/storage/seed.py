"""Fill a database with realistic data, fast: ``inbox db seed --conversations 100000
--messages 1000000``. For benchmarks at scale (bench/data.py) and for trying the UI on a
big inbox; never for a production database.

What it writes: agents, leads and an admin in teams, one inbox per channel kind (two for
SMS), contacts with an identity each, conversations spread over statuses, inboxes, teams
and assignees across the last year, their log (created, assigned, the status they are in:
what ``inbox reports rebuild`` computes report facts from), and their messages, whose words follow a Zipf
distribution (a few very common words, a long tail of rare ones, order numbers) so that
search has common and rare words to find. One conversation, the most recent, has 5,000
messages (or a tenth of them all, if fewer), for paging through a long history.

Why raw cursors: SQLAlchemy's per-row machinery would cost more than the inserts. Rows
go in with executemany (SQLite, ~50,000 rows a transaction) or COPY (PostgreSQL), with
explicit ids that continue after those already there, so seeding an existing database
adds to it. On SQLite the search triggers are lifted during the load and the index is
filled once at the end, in the same transaction (see ``_Writer``); on PostgreSQL the
indexes are kept up as rows go in.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import DateTime, Engine, func, select

from inbox.domain import tables
from inbox.queries import search

BIG_CONVERSATION_MESSAGES = 5000
CHUNK = 50_000  # rows per executemany
AGENTS, LEADS, TEAMS = 40, 4, 5
SEED_DOMAIN = "seed.example"
# (kind, address) of each inbox, and how many conversations it carries, relatively.
INBOXES = (("sms", "+15550100001", 3), ("sms", "+15550100002", 1), ("whatsapp", "+15550100003", 4),
           ("messenger", "seed-page", 2), ("telegram", "seed_bot", 1), ("email", f"support@{SEED_DOMAIN}", 2))
STATUSES = (("open", 30), ("pending", 10), ("snoozed", 5), ("resolved", 55))

COMMON_WORDS = """
hi hello thanks thank you please order delivery package refund return payment card invoice account password
login help issue problem still not working yet today tomorrow week status update tracking number shipped
arrived damaged wrong size color address change cancel subscription plan price discount code coupon store
online app website email phone call back again sorry waiting long time team support agent manager request
receipt charge charged twice bank transfer paypal checkout cart item items product stock available when
where why how can could would should the a an and or but is are was were be been have has had do does did
my your our their this that these those it for with from about on in at to of by as up out so just also
need want get got make made send sent receive received check checked confirm confirmed email address new
old first last next morning evening night monday tuesday wednesday thursday friday saturday sunday
""".split()
SYLLABLES = ("ka ri to mo na sel vin dor ba lu fe pra sto gle mi qua zen tor bel ci da ve lo run sha pi tek "
             "nor wa yu gar fi hel om ex tra").split()
FIRST_NAMES = ("Ana Ben Chloe Dev Eli Fatima Gus Hana Ivan Jade Kofi Lena Mateo Nora Omar Priya Quinn Rosa Sam "
               "Tariq Uma Vera Wei Xena Yusuf Zoe Amara Bruno Carmen Diego Elif Farid Greta Hugo Iris Jonas "
               "Kira Luca Maya Nils").split()
LAST_NAMES = ("Smith Garcia Müller Rossi Kowalski Nguyen Okafor Silva Jensen Haddad Tanaka Novak Dubois "
              "Petrov Costa Ahmed Larsen Moreau Schmidt Ivanova Cohen Fischer Santos Kim Patel").split()


@dataclass(frozen=True, slots=True)
class SeedResult:
    conversations: int
    messages: int
    big_conversation_id: int
    agent_email: str  # a seeded agent's, who is assigned the big conversation
    admin_email: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"conversations": self.conversations, "messages": self.messages,
                "big_conversation_id": self.big_conversation_id, "agent_email": self.agent_email,
                "admin_email": self.admin_email, "seconds": round(self.seconds, 1)}


def seed(engine: Engine, *, conversations: int, messages: int, random_seed: int = 7,
         progress: Callable[[str], None] | None = None) -> SeedResult:
    """Add ``conversations`` conversations holding ``messages`` messages in all (at least
    one each) to a migrated database."""
    if conversations < 1 or messages < conversations:
        raise ValueError("need at least one conversation and at least one message per conversation")
    started = time.monotonic()
    rng = random.Random(random_seed)
    say = progress or (lambda _: None)
    raw = engine.raw_connection()
    try:
        writer = _Writer(raw, engine.dialect.name)
        people = _people(engine, writer, rng)
        inboxes = _inboxes(engine, writer)
        say(f"{len(people.agents)} agents in {len(people.teams)} teams, {len(inboxes)} inboxes")
        first_message_id = writer.next_id("message")
        big = _plan(writer, rng, conversations, messages, people, inboxes, say)
        writer.finish(first_message_id)
    finally:
        raw.close()
    return SeedResult(conversations, messages, big, f"agent1@{SEED_DOMAIN}",
                      f"admin@{SEED_DOMAIN}", time.monotonic() - started)


# -- writing ------------------------------------------------------------------------------

class _Writer:
    """Bulk inserts on the driver's connection, executemany on SQLite and COPY on
    PostgreSQL, all in one transaction committed by ``finish``: an interrupted seed leaves
    nothing behind (in particular not a message table without its search triggers)."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw, self.sqlite = raw, dialect == "sqlite"
        fmt = _sqlite_datetime() if self.sqlite else None
        # SQLite keeps datetimes as text in SQLAlchemy's format: write exactly that format.
        self.stamp: Callable[[datetime | None], Any] = (lambda d: fmt(d) if d is not None else None) if fmt \
            else (lambda d: d)
        self.json: Callable[[Any], str] = json.dumps
        self.cursor = raw.cursor()
        self.triggers: list[str] = []
        self.ids: set[str] = set()  # the tables given ids here: PostgreSQL's sequences follow them
        if self.sqlite:
            # The rows are consistent by construction: skip the per-row foreign key checks, and
            # give the index inserts room. Indexing message text row by row from the triggers
            # costs three times one bulk insert at the end, so the search triggers are lifted
            # meanwhile and put back as they were, in the same transaction.
            self.cursor.execute("PRAGMA foreign_keys=OFF")
            self.cursor.execute("PRAGMA cache_size=-262144")
            self.cursor.execute("BEGIN")
            triggers = self.cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%\\_search\\_%' "
                "ESCAPE '\\'").fetchall()
            for name, _ in triggers:
                self.cursor.execute(f'DROP TRIGGER "{name}"')
            self.triggers = [sql for _, sql in triggers]

    def next_id(self, table: str) -> int:
        self.cursor.execute(f'SELECT coalesce(max(id), 0) + 1 FROM "{table}"')
        return int(self.cursor.fetchone()[0])

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        if "id" in columns:
            self.ids.add(table)
        if self.sqlite:
            self.cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})', rows)
        else:
            with self.cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)

    def finish(self, first_message_id: int) -> None:
        if self.sqlite:
            if self.triggers:
                search.sqlite_reindex(self.cursor, first_message_id)
                for sql in self.triggers:
                    self.cursor.execute(sql)
            self.cursor.execute("COMMIT")
            self.cursor.execute("PRAGMA foreign_keys=ON")
            self.cursor.execute("PRAGMA optimize")
        else:
            for table in sorted(self.ids):  # a later insert must not reuse a seeded id
                self.cursor.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                                    f"(SELECT coalesce(max(id), 1) FROM \"{table}\"))")
            self.raw.commit()
            # The visibility map too, as autovacuum would set it later: index-only scans.
            self.raw.driver_connection.autocommit = True
            self.cursor.execute("VACUUM ANALYZE")


def _sqlite_datetime() -> Callable[[datetime | None], Any] | None:
    """SQLAlchemy's bind processor for a DateTime on SQLite: the text it stores."""
    from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
    dialect = SQLiteDialect_pysqlite()
    return DateTime().dialect_impl(dialect).bind_processor(dialect)


# -- people and inboxes -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _People:
    agents: list[int]
    teams: list[int]
    team_of: dict[int, int]  # agent id -> team id


def _existing(engine: Engine, column: Any, key_column: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return {k: v for k, v in conn.execute(select(key_column, column))}


def _people(engine: Engine, w: _Writer, rng: random.Random) -> _People:
    users, teams = tables.USERS.c, tables.TEAMS.c
    by_email = _existing(engine, users.id, users.email)
    now = w.stamp(datetime.now(timezone.utc))
    wanted = [(f"admin@{SEED_DOMAIN}", "Seed Admin", "admin")]
    wanted += [(f"lead{i}@{SEED_DOMAIN}", f"Lead {i}", "lead") for i in range(1, LEADS + 1)]
    wanted += [(f"agent{i}@{SEED_DOMAIN}", f"{FIRST_NAMES[i % len(FIRST_NAMES)]} (agent {i})", "agent")
               for i in range(1, AGENTS + 1)]
    new = [u for u in wanted if u[0] not in by_email]
    if new:
        first = w.next_id("user")
        w.insert("user", ("id", "email", "name", "role", "password_hash", "active", "created_at"),
                 [(first + i, email, name, role, "", True, now) for i, (email, name, role) in enumerate(new)])
        by_email.update({email: first + i for i, (email, _, _) in enumerate(new)})
    agents = [by_email[f"agent{i}@{SEED_DOMAIN}"] for i in range(1, AGENTS + 1)]
    by_name = _existing(engine, teams.id, teams.name)
    names = [f"Seed team {i}" for i in range(1, TEAMS + 1)]
    if missing := [n for n in names if n not in by_name]:
        first = w.next_id("team")
        w.insert("team", ("id", "name", "created_at"), [(first + i, n, now) for i, n in enumerate(missing)])
        by_name.update({n: first + i for i, n in enumerate(missing)})
        team_ids = [by_name[n] for n in names]
        w.insert("teammember", ("team_id", "user_id"),
                 [(team_ids[i % TEAMS], agent) for i, agent in enumerate(agents)])
    team_ids = [by_name[n] for n in names]
    return _People(agents, team_ids, {agent: team_ids[i % TEAMS] for i, agent in enumerate(agents)})


def _inboxes(engine: Engine, w: _Writer) -> list[tuple[int, str, int]]:
    """(id, kind, weight) of each seed inbox, created when missing."""
    c = tables.INBOXES.c
    with engine.connect() as conn:
        found = {(k, a): i for i, k, a in conn.execute(select(c.id, c.kind, c.address))}
    missing = [(kind, address) for kind, address, _ in INBOXES if (kind, address) not in found]
    if missing:
        first = w.next_id("inbox")
        now = w.stamp(datetime.now(timezone.utc))
        w.insert("inbox", ("id", "kind", "name", "address", "settings", "created_at"),
                 [(first + i, kind, f"Seed {kind} {address}", address, w.json({}), now)
                  for i, (kind, address) in enumerate(missing)])
        found.update({key: first + i for i, key in enumerate(missing)})
    return [(found[(kind, address)], kind, weight) for kind, address, weight in INBOXES]


# -- conversations and messages -----------------------------------------------------------

class _Words:
    """Message texts from a Zipf-distributed vocabulary: the common words of a support
    inbox, then made-up words, each rarer than the one before."""

    def __init__(self, rng: random.Random) -> None:
        tail = sorted({"".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(8000)})
        rng.shuffle(tail)
        vocabulary = COMMON_WORDS + [w for w in tail if w not in COMMON_WORDS]
        cumulative = list(itertools.accumulate(1 / (rank + 1) ** 1.07 for rank in range(len(vocabulary))))
        # A pool of phrases drawn once; a message is one to three of them, sometimes with an
        # order number (a nearly unique word, as customers quote them).
        self.phrases = [" ".join(rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(3, 9)))
                        for _ in range(60_000)]
        self.rng = rng

    def text(self) -> str:
        r = self.rng
        n = 1 + (r.random() < 0.5) + (r.random() < 0.2)
        text = " ".join(r.choice(self.phrases) for _ in range(n))
        if r.random() < 0.05:
            text += f" order {r.randrange(1_000_000, 9_999_999)}"
        return text.capitalize()


def _message_counts(rng: random.Random, conversations: int, messages: int) -> list[int]:
    big = min(BIG_CONVERSATION_MESSAGES, max(1, messages // 10), messages - (conversations - 1))
    counts = [big] + [1] * (conversations - 1)
    if conversations > 1:
        for i in rng.choices(range(1, conversations), k=messages - big - (conversations - 1)):
            counts[i] += 1
    return counts


_CONVERSATION_COLUMNS = ("id", "contact_id", "status", "assignee_id", "team_id", "unread_count", "last_message_at",
                         "last_message_preview", "last_message_direction", "last_inbound_at",
                         "last_inbound_inbox_id", "channel", "snoozed_until", "resolved_at", "created_at",
                         "updated_at")
_MESSAGE_COLUMNS = ("id", "conversation_id", "inbox_id", "direction", "identity_id", "author_id", "text",
                    "attachments", "provider_message_id", "status", "created_at", "updated_at")


def _plan(w: _Writer, rng: random.Random, n_conversations: int, n_messages: int, people: _People,
          inboxes: list[tuple[int, str, int]], say: Callable[[str], None]) -> int:
    """Write contacts, identities, conversations and messages, a chunk at a time; returns
    the id of the big conversation."""
    words = _Words(rng)
    counts = _message_counts(rng, n_conversations, n_messages)
    contact0, identity0 = w.next_id("contact"), w.next_id("contact_identity")
    conv0, msg0 = w.next_id("conversation"), w.next_id("message")
    event_id = w.next_id("conversation_event")
    now = datetime.now(timezone.utc)
    year = 365 * 86400
    inbox_weights = [weight for _, _, weight in inboxes]
    statuses, status_weights = [s for s, _ in STATUSES], [weight for _, weight in STATUSES]
    msg_id = msg0
    per_chunk = max(1, CHUNK // max(1, n_messages // n_conversations))
    for start in range(0, n_conversations, per_chunk):
        contacts, identities, convs, msgs, events = [], [], [], [], []
        for i in range(start, min(start + per_chunk, n_conversations)):
            inbox_id, kind, _ = rng.choices(inboxes, inbox_weights)[0]
            contact_id, identity_id = contact0 + i, identity0 + i
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            handle = _handle(kind, i + contact0, first, last)
            created = now - timedelta(seconds=rng.uniform(0, year))
            contacts.append((contact_id, f"{first} {last}", handle if kind in ("sms", "whatsapp") else None,
                             handle if kind == "email" else None, w.json({}), w.stamp(created), w.stamp(created)))
            identities.append((identity_id, contact_id, kind, handle, f"{first} {last}", False, w.stamp(created)))
            big = i == 0
            status = "open" if big else rng.choices(statuses, status_weights)[0]
            assignee = people.agents[0] if big else (None if rng.random() < 0.25 else rng.choice(people.agents))
            team = (people.team_of[assignee] if assignee is not None and rng.random() < 0.8
                    else (rng.choice(people.teams) if rng.random() < 0.4 else None))
            # Most recent activity first for the big one; otherwise anywhere in the year.
            last_at = now - timedelta(seconds=60 if big else rng.uniform(120, year))
            at, times = last_at, []
            for _ in range(counts[i]):
                times.append(at)
                at -= timedelta(seconds=rng.uniform(20, 3 * 3600 if not big else 1200))
            times.reverse()
            last_in = None
            preview, direction = "", "in"
            for j, when in enumerate(times):
                direction = "in" if j % 2 == 0 or rng.random() < 0.3 else "out"
                text = words.text()
                stamp = w.stamp(when)
                msgs.append((msg_id, conv0 + i, inbox_id, direction, identity_id,
                             None if direction == "in" else (assignee or people.agents[1 % len(people.agents)]),
                             text, "[]", f"seed-{msg_id}", "received" if direction == "in" else "delivered",
                             stamp, stamp))
                msg_id += 1
                if direction == "in":
                    last_in = when
                preview = text[:140]
            # The log reports are rebuilt from: created, assigned, and the status it ended in.
            log: list[tuple[str, int | None, dict[str, Any], datetime]] = [(
                "created", None, {"channel": kind, "inbox_id": inbox_id}, times[0])]
            if assignee is not None or team is not None:
                log.append(("assigned", None, {"from_user_id": None, "to_user_id": assignee, "from_team_id": None,
                                               "to_team_id": team}, times[0] + timedelta(seconds=1)))
            if status != "open":
                log.append(("status_changed", assignee, {"from": "open", "to": status}, last_at))
            for kind_, actor, data, when in log:
                events.append((event_id, conv0 + i, kind_, actor, w.json(data), w.stamp(when)))
                event_id += 1
            convs.append((conv0 + i, contact_id, status, assignee, team,
                          rng.randint(0, 3) if status == "open" else 0, w.stamp(last_at), preview, direction,
                          w.stamp(last_in), inbox_id, kind,
                          w.stamp(last_at + timedelta(days=rng.uniform(-30, 30))) if status == "snoozed" else None,
                          w.stamp(last_at) if status == "resolved" else None, w.stamp(times[0]), w.stamp(last_at)))
        w.insert("contact", ("id", "name", "phone", "email", "attributes", "created_at", "updated_at"), contacts)
        w.insert("contact_identity", ("id", "contact_id", "kind", "handle", "profile_name", "opted_out",
                                      "last_seen_at"), identities)
        w.insert("conversation", _CONVERSATION_COLUMNS, convs)
        for part in _chunks(msgs, CHUNK):
            w.insert("message", _MESSAGE_COLUMNS, part)
        w.insert("conversation_event", ("id", "conversation_id", "kind", "actor_id", "data", "created_at"), events)
        say(f"{start + len(convs):,} conversations, {msg_id - msg0:,} messages")
    return conv0


def _handle(kind: str, n: int, first: str, last: str) -> str:
    if kind in ("sms", "whatsapp"):
        return f"+1{2_000_000_000 + n:010d}"
    if kind == "email":
        return f"{first.lower()}.{last.lower()}{n}@customers.{SEED_DOMAIN}"
    return str(10_000_000_000 + n)


def _chunks(rows: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def count(engine: Engine) -> tuple[int, int]:
    """(conversations, messages) in the database."""
    with engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(tables.CONVERSATIONS)).scalar_one(),
                conn.execute(select(func.count()).select_from(tables.MESSAGES)).scalar_one())
