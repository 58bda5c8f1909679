"""session search: the text of sessions' recordings, indexed by the database's full-text search

`session_texts` holds pieces of what sessions showed or did (terminal lines with their moment
in playback, exec command lines, SFTP operations); `sessions.text_indexed_at` says a session's
text is in. The full-text index is each database's own: on SQLite an FTS5 table over
`session_texts.body` (external content, kept by triggers), on PostgreSQL a generated
`tsvector` column with a GIN index. Both index words of letters and digits alone (the
PostgreSQL column splits the text where SQLite's tokenizer does, so `/etc/passwd` is the
words `etc` and `passwd` on both).

Sessions that ended before this revision are indexed by the running nodes like any other
(their `text_indexed_at` is empty): nothing to backfill here.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 06:00:00
"""

import sqlalchemy as sa
from alembic import op

from pamnode.db.base import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE session_texts_fts USING fts5("
    "body, content='session_texts', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER session_texts_ai AFTER INSERT ON session_texts BEGIN "
    "INSERT INTO session_texts_fts(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER session_texts_ad AFTER DELETE ON session_texts BEGIN "
    "INSERT INTO session_texts_fts(session_texts_fts, rowid, body) "
    "VALUES ('delete', old.id, old.body); END",
]
_POSTGRESQL_UP = [
    "ALTER TABLE session_texts ADD COLUMN body_tsv tsvector GENERATED ALWAYS AS "
    "(to_tsvector('simple', regexp_replace(body, '[^[:alnum:]]+', ' ', 'g'))) STORED",
    "CREATE INDEX ix_session_texts_body_tsv ON session_texts USING gin (body_tsv)",
]


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text_indexed_at", UTCDateTime(timezone=True)))
        batch_op.create_index("ix_sessions_text_indexed_at", ["text_indexed_at"], unique=False)
    op.create_table(
        "session_texts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("offset_s", sa.Float(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name=op.f("fk_session_texts_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_texts")),
    )
    op.create_index(
        op.f("ix_session_texts_session_id"), "session_texts", ["session_id"], unique=False
    )
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_UP if dialect == "sqlite" else _POSTGRESQL_UP:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE session_texts_fts")
    op.drop_index(op.f("ix_session_texts_session_id"), table_name="session_texts")
    op.drop_table("session_texts")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_text_indexed_at")
        batch_op.drop_column("text_indexed_at")
