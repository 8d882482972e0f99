-- The knowledge change sequence's epoch: a random name this database's
-- sequence got once, so a replica's search index stamped "epoch:seq" can
-- tell a database it merely lags behind (same epoch, higher head: it applies
-- the changes after its stamp) from another database (another epoch: it
-- rebuilds), whatever their heads. A copy of the database (a dump restored)
-- keeps the epoch: it is the same sequence.
ALTER TABLE knowledge_cursor ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
UPDATE knowledge_cursor SET epoch = md5(random()::text || clock_timestamp()::text);
