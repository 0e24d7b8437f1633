-- Derived idempotency keys now put observedAt before the series (`<observedAt>@<series>`), so a
-- live feed, which arrives in time order, appends to the end of the key index instead of
-- writing a random page of it per event. Keys stored before are rewritten the same way, with
-- the index dropped and rebuilt (one sorted build instead of a random update per row).
DROP INDEX `event_log_type_key`;--> statement-breakpoint
UPDATE `event_log`
SET `key` = substr(`key`, instr(`key`, '@') + 1) || '@' || substr(`key`, 1, instr(`key`, '@') - 1)
WHERE `type` = 'fare.observed' AND `key` IS NOT NULL AND `key` NOT LIKE 'id:%' AND instr(`key`, '@') > 0;--> statement-breakpoint
CREATE UNIQUE INDEX `event_log_type_key` ON `event_log` (`type`,`key`) WHERE "event_log"."key" IS NOT NULL;
