-- Kafka writes a transaction marker after each committed transaction; it takes an offset
-- but is never delivered. An idle consumer's position steps over the markers, so the lag
-- counts from whichever is further: the next offset to apply or that position.
ALTER TABLE projection_offsets ADD COLUMN consumer_position bigint;

CREATE OR REPLACE VIEW projection_lag AS
SELECT projection, topic, partition, next_offset, high_watermark,
       greatest(coalesce(high_watermark, next_offset) - greatest(next_offset, coalesce(consumer_position, 0)), 0) AS lag,
       last_event_at, updated_at
FROM projection_offsets;
