-- ANALYZE leaves the audit log's JSON images out of its statistics.
--
-- No statement filters, joins or sorts on `entity_key`, `before` or `after`: the audit log is
-- read by workspace, actor, time and change id, and the images are only carried back to the
-- bot. Their statistics were never used, and they were most of what ANALYZE of the audit log
-- cost: comparing and sorting a 30,000-row sample of JSON documents of whole rows. On the
-- discord benchmark's database (140,000 audit rows, 95 MB) `ANALYZE audit_log` took 285-309 ms
-- of CPU with them and 106 ms without. The audit log only grows, so autovacuum analyzes it
-- every time it grows by a tenth: on a young database under load that was once a minute, a
-- third of a second of one core taken from the commands each time.
ALTER TABLE audit_log
    ALTER COLUMN entity_key SET STATISTICS 0,
    ALTER COLUMN before SET STATISTICS 0,
    ALTER COLUMN after SET STATISTICS 0;
