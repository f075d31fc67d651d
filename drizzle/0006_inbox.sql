ALTER TABLE "users" ADD COLUMN "last_acknowledged_id" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Hand-written: users who existed before the inbox start at the newest detection, as new users do.
UPDATE "users" SET "last_acknowledged_id" = (SELECT coalesce(max("id"), 0) FROM "pattern_detections");
