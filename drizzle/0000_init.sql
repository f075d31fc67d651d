CREATE TYPE "public"."pattern_priority" AS ENUM('CRITICAL', 'HIGH', 'MEDIUM', 'LOW');--> statement-breakpoint
CREATE TYPE "public"."pattern_tier" AS ENUM('DAILY', 'INTRADAY', 'COMBO');--> statement-breakpoint
CREATE TABLE "backtest_jobs" (
	"job_id" text PRIMARY KEY NOT NULL,
	"progress" double precision,
	"progress_status" text,
	"current_symbol" text,
	"processed_symbols" integer,
	"estimated_completion" timestamp (3) with time zone,
	"progress_at" timestamp (3) with time zone,
	"result_status" text,
	"results" jsonb,
	"processing_time_seconds" double precision,
	"result_at" timestamp (3) with time zone,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "pattern_definitions" (
	"name" text PRIMARY KEY NOT NULL,
	"category" text,
	"description" text,
	"enabled" boolean DEFAULT true NOT NULL,
	"timeframes" text[] DEFAULT '{}'::text[] NOT NULL,
	"detections" integer DEFAULT 0 NOT NULL,
	"first_seen_at" timestamp (3) with time zone,
	"last_seen_at" timestamp (3) with time zone
);
--> statement-breakpoint
CREATE TABLE "pattern_detections" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_id" text NOT NULL,
	"symbol" text NOT NULL,
	"pattern" text NOT NULL,
	"confidence" double precision NOT NULL,
	"tier" "pattern_tier" NOT NULL,
	"priority" "pattern_priority" NOT NULL,
	"timeframe" text,
	"category" text,
	"price" double precision,
	"detected_at" timestamp (3) with time zone NOT NULL,
	"received_at" timestamp (3) with time zone NOT NULL,
	"expires_at" timestamp (3) with time zone,
	"stored_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"source" text NOT NULL,
	"metadata" jsonb
);
--> statement-breakpoint
CREATE TABLE "publisher_health" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_id" text NOT NULL,
	"status" text NOT NULL,
	"source" text,
	"metrics" jsonb,
	"at" timestamp (3) with time zone NOT NULL,
	"received_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rejected_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_id" text NOT NULL,
	"channel" text NOT NULL,
	"reason" text NOT NULL,
	"payload" "bytea" NOT NULL,
	"byte_length" integer NOT NULL,
	"received_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "pattern_detections_event_id_key" ON "pattern_detections" USING btree ("event_id");--> statement-breakpoint
CREATE INDEX "pattern_detections_tier_id_idx" ON "pattern_detections" USING btree ("tier","id");--> statement-breakpoint
CREATE INDEX "pattern_detections_symbol_id_idx" ON "pattern_detections" USING btree ("symbol","id");--> statement-breakpoint
CREATE INDEX "pattern_detections_pattern_lower_id_idx" ON "pattern_detections" USING btree (lower("pattern"),"id");--> statement-breakpoint
CREATE INDEX "pattern_detections_tier_detected_at_idx" ON "pattern_detections" USING btree ("tier","detected_at");--> statement-breakpoint
CREATE UNIQUE INDEX "publisher_health_event_id_key" ON "publisher_health" USING btree ("event_id");--> statement-breakpoint
CREATE UNIQUE INDEX "rejected_events_event_id_key" ON "rejected_events" USING btree ("event_id");--> statement-breakpoint
CREATE VIEW "public"."daily_patterns" AS (select "id", "event_id" as "event_id", "symbol", "pattern" as "pattern_type", "confidence", lower("tier"::text) as "tier", "priority", "timeframe", "category", "price", "detected_at" as "detection_timestamp", "received_at", "expires_at", "source", "metadata" as "pattern_data" from "pattern_detections" where "pattern_detections"."tier" = 'DAILY');--> statement-breakpoint
CREATE VIEW "public"."intraday_patterns" AS (select "id", "event_id" as "event_id", "symbol", "pattern" as "pattern_type", "confidence", lower("tier"::text) as "tier", "priority", "timeframe", "category", "price", "detected_at" as "detection_timestamp", "received_at", "expires_at", "source", "metadata" as "pattern_data" from "pattern_detections" where "pattern_detections"."tier" = 'INTRADAY');