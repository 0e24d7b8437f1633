CREATE TABLE `deliveries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`function_id` text NOT NULL,
	`seq` integer NOT NULL,
	`series` text NOT NULL,
	`root` integer NOT NULL,
	`status` text NOT NULL,
	`attempts` integer NOT NULL,
	`due_at` integer NOT NULL,
	`last_error` text,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_function_seq` ON `deliveries` (`function_id`,`seq`);--> statement-breakpoint
CREATE INDEX `deliveries_function_status_due` ON `deliveries` (`function_id`,`status`,`due_at`);--> statement-breakpoint
CREATE INDEX `deliveries_function_series_seq` ON `deliveries` (`function_id`,`series`,`seq`);--> statement-breakpoint
CREATE TABLE `event_log` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`type` text NOT NULL,
	`key` text,
	`content_hash` text,
	`series` text NOT NULL,
	`time` integer NOT NULL,
	`root` integer NOT NULL,
	`payload` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `event_log_type_key` ON `event_log` (`type`,`key`);--> statement-breakpoint
CREATE INDEX `event_log_type_seq` ON `event_log` (`type`,`seq`);--> statement-breakpoint
CREATE INDEX `event_log_series_time` ON `event_log` (`series`,`time`);--> statement-breakpoint
CREATE TABLE `forecasts` (
	`series` text PRIMARY KEY NOT NULL,
	`origin` text NOT NULL,
	`destination` text NOT NULL,
	`departure_date` text NOT NULL,
	`as_of` integer NOT NULL,
	`recommendation` text NOT NULL,
	`probability_cheaper_later` real NOT NULL,
	`expected_lowest_price` real NOT NULL,
	`payload` text NOT NULL,
	`model_version` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `forecasts_route_departure` ON `forecasts` (`origin`,`destination`,`departure_date`);--> statement-breakpoint
CREATE TABLE `function_cursors` (
	`function_id` text PRIMARY KEY NOT NULL,
	`position` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `function_state` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL,
	`updated_at` integer DEFAULT (unixepoch() * 1000) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `models` (
	`version` text PRIMARY KEY NOT NULL,
	`created_at` integer NOT NULL,
	`status` text NOT NULL,
	`reason` text NOT NULL,
	`decision` text NOT NULL,
	`window` text NOT NULL,
	`metrics` text NOT NULL,
	`error` text
);
--> statement-breakpoint
CREATE TABLE `route_stats` (
	`key` text PRIMARY KEY NOT NULL,
	`buckets` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `series` (
	`key` text PRIMARY KEY NOT NULL,
	`origin` text NOT NULL,
	`destination` text NOT NULL,
	`departure_date` text NOT NULL,
	`currency` text NOT NULL,
	`points` blob NOT NULL,
	`observations` integer NOT NULL,
	`last_observed_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `series_route_departure` ON `series` (`origin`,`destination`,`departure_date`);