PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_route_stats` (
	`key` text PRIMARY KEY NOT NULL,
	`buckets` text,
	`packed` blob
);
--> statement-breakpoint
-- Route statistics are now stored packed (Float64s, no JSON to parse or build per event); rows
-- written before keep their JSON until their next write.
INSERT INTO `__new_route_stats`("key", "buckets", "packed") SELECT "key", "buckets", NULL FROM `route_stats`;--> statement-breakpoint
DROP TABLE `route_stats`;--> statement-breakpoint
ALTER TABLE `__new_route_stats` RENAME TO `route_stats`;--> statement-breakpoint
PRAGMA foreign_keys=ON;