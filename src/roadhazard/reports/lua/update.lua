-- include: prelude.lua
-- KEYS[1]: the report. ARGV: prefix, now (ISO), the event stream's length, then field/value
-- pairs (description, tags, severity; for a new best frame confidence, conf_micros, box,
-- image_* and last_seen/last_seen_ms, which only move forward; a position found by geocoding).
-- Returns 1, or 0 when the report is gone.

return apply_update(KEYS[1], pairs_from(4), ARGV[2], tonumber(ARGV[3]))
