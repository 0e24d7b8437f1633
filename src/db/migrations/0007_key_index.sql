-- Idempotency keys are kept unique by the log's in-memory key index (src/db/key-index.ts), loaded
-- from event_key_blocks; the unique index cost a b-tree insert per event, at the page its key
-- scatters to. Keys stored before are read from the log once, by the first keyed append.
CREATE TABLE `event_key_blocks` (
	`id` integer PRIMARY KEY NOT NULL,
	`entries` blob NOT NULL
);
--> statement-breakpoint
DROP INDEX `event_log_type_key`;