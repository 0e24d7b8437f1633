DROP INDEX `event_log_series_time`;--> statement-breakpoint
DROP INDEX `event_log_type_key`;--> statement-breakpoint
CREATE UNIQUE INDEX `event_log_type_key` ON `event_log` (`type`,`key`) WHERE "event_log"."key" IS NOT NULL;--> statement-breakpoint
-- features.extracted is now handed to predict in memory, inside extract-features' transaction:
-- logged copies, predict's cursor and its deliveries have no reader left. A forecast whose
-- features were still queued is brought up to date by the series' next fare event.
DELETE FROM `event_log` WHERE `type` = 'features.extracted';--> statement-breakpoint
DELETE FROM `function_cursors` WHERE `function_id` = 'predict';--> statement-breakpoint
DELETE FROM `deliveries` WHERE `function_id` = 'predict';
