-- Knowledge-base articles (issue #17): policy answers units write and the
-- centre reviews. `knowledge_articles` holds each article's workflow state
-- and which version agents are served (`published_version`, kept while a
-- revision is drafted); every version's content stays in
-- `knowledge_article_versions` (the history); every change is audited in
-- `knowledge_events`, in the transaction of the change.
--
-- `change_seq` is the article's position in one change sequence over all
-- articles, taken from `knowledge_cursor` inside the writing transaction:
-- the row stays locked until commit, so numbers commit in order and a
-- replica's search index can follow "changes after N" without missing one.
CREATE TABLE knowledge_cursor (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO knowledge_cursor (id, seq) VALUES (1, 0);

CREATE TABLE knowledge_articles (
    id                TEXT PRIMARY KEY,
    owner_unit        TEXT NOT NULL REFERENCES units (id),
    state             TEXT NOT NULL,
    version           INTEGER NOT NULL,
    published_version INTEGER,
    reject_reason     TEXT,
    creator           TEXT NOT NULL,
    create_time_us    INTEGER NOT NULL,
    update_time_us    INTEGER NOT NULL,
    change_seq        INTEGER NOT NULL
);
CREATE UNIQUE INDEX knowledge_articles_change ON knowledge_articles (change_seq);
CREATE INDEX knowledge_articles_owner ON knowledge_articles (owner_unit, id);

CREATE TABLE knowledge_article_versions (
    article_id     TEXT NOT NULL REFERENCES knowledge_articles (id),
    version        INTEGER NOT NULL,
    title          TEXT NOT NULL,
    body           TEXT NOT NULL,
    -- JSON arrays of text.
    subjects       TEXT NOT NULL,
    regions        TEXT NOT NULL,
    tags           TEXT NOT NULL,
    -- ISO dates (YYYY-MM-DD), or NULL: open-ended.
    effective_from TEXT,
    expires_on     TEXT,
    author         TEXT NOT NULL,
    create_time_us INTEGER NOT NULL,
    PRIMARY KEY (article_id, version)
);

CREATE TABLE knowledge_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id TEXT NOT NULL REFERENCES knowledge_articles (id),
    version    INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    note       TEXT,
    time_us    INTEGER NOT NULL
);
CREATE INDEX knowledge_events_article ON knowledge_events (article_id, id);
