-- How far behind the log each projection is, per partition, as of its last batch.
ALTER TABLE projection_offsets
    ADD COLUMN high_watermark bigint,
    ADD COLUMN last_event_at timestamptz;

CREATE VIEW projection_lag AS
SELECT projection, topic, partition, next_offset, high_watermark,
       greatest(coalesce(high_watermark, next_offset) - next_offset, 0) AS lag,
       last_event_at, updated_at
FROM projection_offsets;
