-- Duplicate candidates from stored sketches (issue #16): each ticket keeps
-- a keyed MinHash sketch of its title and description (256 bytes, see
-- crates/domain/src/duplicates/sketch.rs), written at intake and when the
-- text is corrected, so a duplicate search reads sketches instead of
-- opening and re-shingling every candidate's sealed description.
-- NULL for tickets written before: SQL cannot compute a keyed sketch, so
-- the search computes a missing one from the text (the row's description
-- is read only then) and the column fills as tickets are corrected.
ALTER TABLE tickets ADD COLUMN text_sketch BLOB;
