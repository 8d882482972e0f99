-- Knowledge-base citations (issue #17): each article a resolution at intake
-- cited, one row per (event, article), written in the transaction of the
-- resolution, so how often articles were cited in a period (ListArticleUsage,
-- the scorecards, the disclosure report) is one range of an index, counted
-- in the database, instead of every resolution's payload read and parsed.
-- The events stay the record: these rows are derived from them (the
-- backfill below reads the resolutions stored before this table).
CREATE TABLE article_citations (
    ticket_id  TEXT NOT NULL REFERENCES tickets (id),
    sequence   INTEGER NOT NULL,
    article_id TEXT NOT NULL,
    time_us    INTEGER NOT NULL,
    PRIMARY KEY (ticket_id, sequence, article_id)
);
CREATE INDEX article_citations_time ON article_citations (time_us, article_id);
INSERT INTO article_citations (ticket_id, sequence, article_id, time_us)
SELECT DISTINCT e.ticket_id, e.sequence, cited.value, e.time_us
FROM ticket_events e, json_each(e.payload, '$.article_ids') AS cited
WHERE e.kind = 'resolved_at_intake';
