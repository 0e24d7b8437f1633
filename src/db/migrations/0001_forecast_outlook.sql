ALTER TABLE `forecasts` ADD `outlook` blob DEFAULT x'' NOT NULL;--> statement-breakpoint
ALTER TABLE `forecasts` ADD `revision` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Forecasts stored before held their outlook in the payload. They are derived data: recomputed on read, or on the next event.
DELETE FROM `forecasts`;
