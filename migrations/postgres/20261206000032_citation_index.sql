-- Knowledge-base citations (issue #17): how often each article was cited by
-- the resolutions at intake of a period (ListArticleUsage, the scorecards,
-- the disclosure report) are counted from those events. Read off the index
-- of every event by time, a month's count read every event of the month;
-- this index holds only the resolutions at intake. The statement writes the
-- kind literally (`article_uses_sql.rs`, whose unit test checks it against
-- this file): a bound kind could not prove the predicate.
CREATE INDEX ticket_events_resolved_at_intake ON ticket_events (time_us)
    WHERE kind = 'resolved_at_intake';
