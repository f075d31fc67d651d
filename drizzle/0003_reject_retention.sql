CREATE TABLE "rejected_total" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"total" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "rejected_events_received_at_idx" ON "rejected_events" USING btree ("received_at");--> statement-breakpoint
-- Every reject stored before this migration counts: the total starts at the rows kept so far.
INSERT INTO "rejected_total" ("id", "total") SELECT 1, count(*) FROM "rejected_events";
