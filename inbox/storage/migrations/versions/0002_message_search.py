"""Search indexes: the words of messages, and substrings of contact names and handles;
and a list index for a database of 100,000s of conversations.

SQLite: messages in a contentless FTS5 table (the text is stored once, in ``message``),
filled by triggers and backfilled from the rows already there. Its rowid is not the
message id but ``conversation_id << 32 | message id``, so a match yields its conversation
without a lookup in ``message``, and the matches of one conversation are one rowid range
(measured at 1M messages: mapping 100,000 matches to conversations through ``message``
took 165 ms, through the rowid 15 ms). Names and handles in trigram FTS5 tables over
their rows (external content), so "contains" needs no scan of every contact.
PostgreSQL: a GIN index over to_tsvector('simple', text), an expression index, so no
column to keep in step; trigram GIN indexes (pg_trgm) for names and handles.
inbox/search.py holds the queries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# unicode61 with diacritics removed: "cafe" finds "café". No prefix index: it would serve
# only the 2-3 letter prefixes search does not complete, at a third more per stored message
# (measured: 33 us a message instead of 22, of which 5 without any index).
KEY = "(new.conversation_id << 32) | new.id"
OLD_KEY = "(old.conversation_id << 32) | old.id"
SQLITE_UP = [
    "CREATE VIRTUAL TABLE message_search USING fts5(text, content='', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE VIRTUAL TABLE message_search_terms USING fts5vocab(message_search, 'row')",
    f"CREATE TRIGGER message_search_insert AFTER INSERT ON message BEGIN "
    f"INSERT INTO message_search(rowid, text) VALUES ({KEY}, new.text); END",
    f"CREATE TRIGGER message_search_delete AFTER DELETE ON message BEGIN "
    f"INSERT INTO message_search(message_search, rowid, text) VALUES ('delete', {OLD_KEY}, old.text); END",
    f"CREATE TRIGGER message_search_update AFTER UPDATE OF text, conversation_id ON message BEGIN "
    f"INSERT INTO message_search(message_search, rowid, text) VALUES ('delete', {OLD_KEY}, old.text); "
    f"INSERT INTO message_search(rowid, text) VALUES ({KEY}, new.text); END",
    "INSERT INTO message_search(rowid, text) SELECT (conversation_id << 32) | id, text FROM message",
]
SQLITE_DOWN = ["DROP TRIGGER message_search_update", "DROP TRIGGER message_search_delete",
               "DROP TRIGGER message_search_insert", "DROP TABLE message_search_terms", "DROP TABLE message_search"]
# (index table, table, column) of the trigram indexes
TRIGRAMS = (("contact_search", "contact", "name"), ("handle_search", "contact_identity", "handle"))
for index, table, column in TRIGRAMS:
    SQLITE_UP += [
        f"CREATE VIRTUAL TABLE {index} USING fts5({column}, content='{table}', content_rowid='id', "
        f"tokenize='trigram')",
        f"CREATE TRIGGER {index}_insert AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {index}(rowid, {column}) VALUES (new.id, new.{column}); END",
        f"CREATE TRIGGER {index}_delete AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {index}({index}, rowid, {column}) VALUES ('delete', old.id, old.{column}); END",
        f"CREATE TRIGGER {index}_update AFTER UPDATE OF {column} ON {table} BEGIN "
        f"INSERT INTO {index}({index}, rowid, {column}) VALUES ('delete', old.id, old.{column}); "
        f"INSERT INTO {index}(rowid, {column}) VALUES (new.id, new.{column}); END",
        f"INSERT INTO {index}({index}) VALUES ('rebuild')",
    ]
    SQLITE_DOWN += [f"DROP TRIGGER {index}_update", f"DROP TRIGGER {index}_delete", f"DROP TRIGGER {index}_insert",
                    f"DROP TABLE {index}"]
POSTGRES_UP = [
    "CREATE INDEX ix_message_text_search ON message USING gin (to_tsvector('simple', text))",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_contact_name_search ON contact USING gin (name gin_trgm_ops)",
    "CREATE INDEX ix_contact_identity_handle_search ON contact_identity USING gin (handle gin_trgm_ops)",
]
POSTGRES_DOWN = ["DROP INDEX ix_contact_identity_handle_search", "DROP INDEX ix_contact_name_search",
                 "DROP INDEX ix_message_text_search"]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_UP if sqlite else POSTGRES_UP:
        op.execute(statement)
    # if_not_exists: a database made by create_all before migrations (adopted as 0001) has it
    op.create_index('ix_conversation_team_list', 'conversation', ['team_id', 'last_message_at', 'id'],
                    if_not_exists=True)


def downgrade() -> None:
    op.drop_index('ix_conversation_team_list', 'conversation')
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DOWN if sqlite else POSTGRES_DOWN:
        op.execute(statement)
