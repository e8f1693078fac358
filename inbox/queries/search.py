"""Full-text search of conversations: by the words of their messages, or by their
contact's name or handle (a substring, as the contact search does).

The index (inbox/migrations/versions/0002_message_search.py): on SQLite a contentless FTS5
table whose rowid is ``conversation_id << 32 | message id``; on PostgreSQL a GIN index
over ``to_tsvector('simple', text)``.

What the user typed is never handed to a query parser: it is cut into words (letters and
digits), each word quoted, the last one, from four letters, also matched as a prefix
("refu" finds refund), and all of them required. No input can make a syntax error.

Why the search picks a plan itself: the list shows the newest 25 matching conversations,
and the cheapest way to find them depends on how many match. A rare word has a few
matches: find them in the index, then sort those conversations. A word in most
conversations has hundreds of thousands: walk the conversations newest first and probe
the index for each until 25 are found; collecting every match first would cost 50-170 ms
at 1M messages (measured), the probes about 1 ms. So first the matching conversations
are collected, up to ``DENSE``; past that, the probing plan is used.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    any_,
    bindparam,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG

from inbox.domain.tables import CONTACTS, CONVERSATIONS, IDENTITIES, MESSAGES

MAX_WORDS = 16
# Matching conversations collected before the plan switches to probing newest first: past
# this many (1 in 50 at 100,000 conversations) 25 are found within about 1,300 probes of
# 5-15 us each (an optimized FTS5 index, see ``sqlite_reindex``).
DENSE = 2_000
FEW = 500  # matching conversations up to which they are fetched and sorted rather than walked
# PostgreSQL: estimated matching messages past which probing wins (measured at 1M messages:
# 6,000 matches cost 8 ms to collect, or 26 ms of probes; 13,000: 33 ms or 8 ms).
PG_DENSE = 8_000
PREFIX_FROM = 4  # letters of a last word from which it is also a prefix: fewer begin too many words
PREFIX_WORDS = 20
# Objects of the search index, which the models do not describe (see inbox/storage/migrate.py).
INDEX_TABLES = ("message_search", "contact_search", "handle_search")  # and their FTS5 shadow tables
INDEX_NAMES = frozenset({"ix_message_text_search", "ix_contact_name_search", "ix_contact_identity_handle_search"})
_WORD = re.compile(r"[^\W_]+")
_SHIFT = 32  # the SQLite index's rowid: conversation_id << 32 | message id


LABEL_TERM = "label:"


def label_terms(q: str) -> tuple[list[str], str]:
    """(the label names of ``label:<name>`` terms in ``q``, the rest of ``q``). A name
    with spaces is quoted: ``label:"needs review"``. One pass over the text, no regex."""
    names: list[str] = []
    rest: list[str] = []
    i, n = 0, len(q)
    while i < n:
        if q[i].isspace():
            rest.append(q[i])
            i += 1
            continue
        end = i
        while end < n and not q[end].isspace():
            end += 1
        if q[i:i + len(LABEL_TERM)].lower() != LABEL_TERM or end == i + len(LABEL_TERM):
            rest.append(q[i:end])  # a word, or "label:" alone
            i = end
            continue
        start = i + len(LABEL_TERM)
        if q[start] == '"':
            close = q.find('"', start + 1)
            end = n if close < 0 else close + 1
            name = q[start + 1:close if close >= 0 else n]
        else:
            name = q[start:end]
        if name.strip():
            names.append(name.strip())
        i = end
    return names, "".join(rest).strip()


def words(q: str) -> list[str]:
    return _WORD.findall(q.lower())[:MAX_WORDS]


def matching_conversations(conn: Connection, q: str) -> ColumnElement[bool]:
    """A condition on the conversation table: some message contains every word of ``q``,
    or the contact's name or one of their handles contains ``q``."""
    c = CONVERSATIONS.c
    q = q.replace("\x00", "")  # PostgreSQL's text cannot hold it
    # Names and handles from three characters: a trigram index finds nothing shorter, and
    # one or two letters are in most names anyway.
    by_contact = contact_matches(conn, q, CONVERSATIONS.c.contact_id) if len(q) >= 3 else false()
    terms = words(q)
    if not terms:
        return by_contact
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        match = _fts5_query(conn, terms)
        ids = conn.exec_driver_sql(
            f"SELECT DISTINCT rowid >> {_SHIFT} FROM message_search WHERE message_search MATCH ? LIMIT ?",
            (match, DENSE + 1)).scalars().all()
        dense = len(ids) > DENSE
    else:
        match = _tsquery(terms)
        dense = _estimated_matches(conn, match) > PG_DENSE
        ids = [] if dense else conn.execute(
            select(MESSAGES.c.conversation_id).distinct().where(_ts_match(MESSAGES.c.text, match))).scalars().all()
    if dense:
        return or_(by_contact, _probe(conn, match))
    if not ids:
        return by_contact
    if not sqlite:
        return or_(by_contact, c.id == any_(bindparam("conversation_ids", list(ids), type_=ARRAY(Integer))))
    # A few: fetch those conversations and sort them. Many: walk the list newest first
    # and keep the members (``id + 0`` keeps SQLite from looking each one up instead).
    key = c.id if len(ids) <= FEW else c.id + 0
    return or_(by_contact, key.in_(select(literal_column("value", Integer)).select_from(
        func.json_each(bindparam("conversation_ids", json.dumps(ids))))))


def _estimated_matches(conn: Connection, match: str) -> int:
    """PostgreSQL's estimate of the messages matching: its statistics of the index's
    words (ANALYZE) are close enough to choose the plan, and cost a planning, no scan."""
    stmt = select(literal_column("1", Integer)).select_from(MESSAGES).where(_ts_match(MESSAGES.c.text, match))
    compiled = stmt.compile(dialect=conn.dialect)
    plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + compiled.string, compiled.params).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])


def _fts5_query(conn: Connection, terms: list[str]) -> str:
    """Every word, quoted, so FTS5 operators in the input are only words. The last word,
    from PREFIX_FROM letters, also matches the (at most PREFIX_WORDS - 1 most frequent)
    longer words of the index that begin with it: a prefix query ("refu"*) would have
    FTS5 merge every such word's matches afresh for each probe."""
    quoted = [f'"{t}"' for t in terms]
    last = terms[-1]
    if len(last) >= PREFIX_FROM:
        # From just past the word itself: fts5vocab counts every match of the words it
        # passes, and the word may have hundreds of thousands (11 ms for one in half the
        # messages).
        longer = conn.exec_driver_sql(
            "SELECT term FROM message_search_terms WHERE term >= ? AND term < ? ORDER BY doc DESC LIMIT ?",
            (last + "\x01", last + "\U0010ffff", PREFIX_WORDS - 1)).scalars().all()
        if longer:
            quoted[-1] = "(" + " OR ".join(f'"{t}"' for t in [last, *longer]) + ")"
    return " AND ".join(quoted)


def _tsquery(terms: list[str]) -> str:
    """The same for PostgreSQL's to_tsquery: words quoted, the last one also a prefix."""
    quoted = [f"'{t}'" for t in terms]
    if len(terms[-1]) >= PREFIX_FROM:
        quoted[-1] += ":*"
    return " & ".join(quoted)


_SIMPLE = literal_column("'simple'::regconfig", REGCONFIG)  # a constant, as in the index's expression


def _ts_match(column: Any, match: str) -> ColumnElement[bool]:
    return func.to_tsvector(_SIMPLE, column).op("@@")(func.to_tsquery(_SIMPLE, bindparam("tsquery", match)))


def _probe(conn: Connection, match: str) -> ColumnElement[bool]:
    """Does the conversation have a matching message: one index probe per conversation,
    for words so common that the list stops after a few dozen conversations."""
    c = CONVERSATIONS.c
    if conn.dialect.name == "sqlite":
        # The conversation's matches are the index's rowids in [id << 32, (id + 1) << 32).
        return text(f"EXISTS (SELECT 1 FROM message_search WHERE message_search MATCH :match "  # type: ignore[return-value]
                    f"AND rowid >= conversation.id << {_SHIFT} AND rowid < (conversation.id + 1) << {_SHIFT})"
                    ).bindparams(match=match)
    m = MESSAGES.alias("m")
    # OFFSET 0 keeps PostgreSQL from turning the probe, when it is part of an OR, into a
    # hashed set of every match (120 ms for a word in 10% of messages).
    return exists(select(literal(1)).where(m.c.conversation_id == c.id, _ts_match(m.c.text, match)).offset(0))


def contact_matches(conn: Connection, q: str, contact_id: ColumnElement[int]) -> ColumnElement[bool]:
    """``contact_id`` (a column) is of a contact with a name or a handle containing ``q``
    (three characters or more: the trigram indexes find nothing shorter)."""
    if conn.dialect.name == "sqlite":
        phrase = '"' + q.replace('"', '""') + '"'
        return contact_id.in_(text(
            "SELECT rowid FROM contact_search WHERE contact_search MATCH :phrase UNION "
            "SELECT contact_id FROM contact_identity WHERE id IN "
            "(SELECT rowid FROM handle_search WHERE handle_search MATCH :phrase)").bindparams(phrase=phrase)
            .columns(rowid=Integer))
    # Fetched first: as a subquery, PostgreSQL joins every contact to it (25 ms at 100,000).
    ids = conn.execute(select(CONTACTS.c.id).where(contains(conn, CONTACTS.c.name, q)).union(
        select(IDENTITIES.c.contact_id).where(contains(conn, IDENTITIES.c.handle, q)))).scalars().all()
    return contact_id == any_(bindparam("contact_ids", list(ids), type_=ARRAY(Integer))) if ids else false()


def contains(conn: Connection, column: ColumnElement[str], q: str) -> ColumnElement[bool]:
    """``column`` contains ``q``, ignoring case. SQLite's LIKE ignores ASCII case already;
    lower() there would change nothing but cost a third of a scan's time."""
    like = f"%{_escape_like(q.replace(chr(0), '').lower())}%"
    return column.like(like, escape="\\") if conn.dialect.name == "sqlite" else column.ilike(like, escape="\\")


def _escape_like(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def sqlite_reindex(conn: Any, first_message_id: int) -> None:
    """Index what a bulk load wrote with the triggers lifted: messages from
    ``first_message_id`` on, every name and handle. ``conn``: a sqlite3 connection or cursor."""
    conn.execute(f"INSERT INTO message_search(rowid, text) SELECT (conversation_id << {_SHIFT}) | id, text "
                 "FROM message WHERE id >= ?", (first_message_id,))
    for table in INDEX_TABLES[1:]:
        conn.execute(f"INSERT INTO {table}({table}) VALUES ('rebuild')")
    # One b-tree segment instead of the dozens a bulk insert leaves: a probe of one
    # conversation's range then seeks once (measured: 7 us instead of 60).
    conn.execute("INSERT INTO message_search(message_search) VALUES ('optimize')")


MERGE_PAGES = 200  # pages a merge step writes: about 10 ms


def sqlite_merge_step(conn: Connection) -> None:
    """Merge part of the SQLite index's segments toward one b-tree. Stored messages add
    segments, which FTS5 merges only once several pile up at a level. Each segment costs a
    seek on every probe: seven times slower with dozens than with one, as measured. The
    housekeeper runs a step every few minutes; each step writes at most MERGE_PAGES pages,
    so it never holds the writer for long."""
    conn.exec_driver_sql(f"INSERT INTO message_search(message_search, rank) VALUES ('merge', -{MERGE_PAGES})")


def is_index_object(name: str | None, type_: str) -> bool:
    """For alembic's comparisons: the search index's tables and indexes are not models."""
    return bool(name) and ((type_ == "table" and name.startswith(INDEX_TABLES))  # type: ignore[union-attr]
                           or (type_ == "index" and name in INDEX_NAMES))
