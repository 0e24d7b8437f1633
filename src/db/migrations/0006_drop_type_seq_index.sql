-- Functions read the log by seq, which the rowid serves; the index on (type, seq) cost a b-tree
-- insert per appended event (about 1 µs of a bulk import's) and no query needed it.
DROP INDEX `event_log_type_seq`;
