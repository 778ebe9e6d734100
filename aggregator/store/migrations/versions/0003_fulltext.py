"""full-text search: SQLite FTS5 table kept by triggers; PostgreSQL tsvector + GIN

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

These objects are engine-specific and live outside ``schema.metadata`` on purpose:
``aggregator.store.search.include_name`` keeps them out of the migrations-vs-models
comparison (pass it as ``include_name`` to ``compare_metadata``).

Tokens must equal ``aggregator.query.tokenize`` (case and accents folded, split on
anything not a letter/digit/mark), since queries arrive already tokenized:

- SQLite: ``unicode61 remove_diacritics 2`` folds case and accents the same way.
- PostgreSQL: a ``simple`` copy with ``unaccent`` in front (unaccent is a trusted
  extension: a database owner may create it), over the text with punctuation
  replaced by spaces. The text is capped at 100,000
  characters because a tsvector holds at most 1 MB: one giant article must not make
  the writer's INSERT fail.

Loading a large archive: stop at 0002, bulk insert, then upgrade to this revision;
the FTS5 rebuild / the generated column are computed once, in bulk.
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_UP = [
    """CREATE VIRTUAL TABLE articles_fts USING fts5(
        title, text, content='articles', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
        INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
    END""",
    """CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
    END""",
    # Only a change of the indexed columns touches the index (clustering updates
    # cluster_id on every article and must stay cheap).
    """CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, text ON articles BEGIN
        INSERT INTO articles_fts(articles_fts, rowid, title, text)
        VALUES ('delete', old.id, old.title, old.text);
        INSERT INTO articles_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
    END""",
    "INSERT INTO articles_fts(articles_fts) VALUES ('rebuild')",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS articles_fts_update",
    "DROP TRIGGER IF EXISTS articles_fts_delete",
    "DROP TRIGGER IF EXISTS articles_fts_insert",
    "DROP TABLE IF EXISTS articles_fts",
]

POSTGRESQL_UP = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE TEXT SEARCH CONFIGURATION aggregator_search (COPY = simple)",
    """ALTER TEXT SEARCH CONFIGURATION aggregator_search
        ALTER MAPPING FOR word, hword, hword_part WITH unaccent, simple""",
    # Punctuation becomes a space first: PostgreSQL's parser would otherwise keep
    # "example.com", "u.s", "3.5" or "-16" (of "F-16") as single lexemes.
    """ALTER TABLE articles ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('aggregator_search'::regconfig,
            regexp_replace(left(title, 100000), '[[:punct:]]+', ' ', 'g')), 'A') ||
        setweight(to_tsvector('aggregator_search'::regconfig,
            regexp_replace(left(text, 100000), '[[:punct:]]+', ' ', 'g')), 'B')
    ) STORED""",
    "CREATE INDEX ix_articles_search_vector ON articles USING gin (search_vector)",
]

POSTGRESQL_DOWN = [
    "DROP INDEX IF EXISTS ix_articles_search_vector",
    "ALTER TABLE articles DROP COLUMN IF EXISTS search_vector",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS aggregator_search",
]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_UP if sqlite else POSTGRESQL_UP:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DOWN if sqlite else POSTGRESQL_DOWN:
        op.execute(statement)
