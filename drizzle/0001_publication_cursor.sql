CREATE TABLE "publication_cursor" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"last_published_id" bigint NOT NULL
);
--> statement-breakpoint
-- Everything stored before this migration counts as published: only what comes after is sent.
INSERT INTO "publication_cursor" ("id", "last_published_id") SELECT 1, coalesce(max("id"), 0) FROM "pattern_detections";
