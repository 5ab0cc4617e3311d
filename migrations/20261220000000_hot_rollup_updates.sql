-- The stay and activity rollups take an upsert from nearly every command (a move ends a stay,
-- a logged call counts an activity) on a few rows a day per team: each row is updated hundreds
-- of times a minute. Their covering indexes (migration 20261127000008) hold the counters, so no
-- such update could be HOT: each one added an entry to both indexes and left a dead version
-- that the next upsert's conflict check walked again, until vacuum came. On the discord
-- benchmark: 9,976 stay updates, none HOT, 320 kB for 24 live rows, and the stay upsert took
-- 359 µs a call under load against 98 µs for the open totals, whose updates are HOT. pgbench
-- upserting 40 such rows from 12 clients: 1.8 to 2.1 times the rate without the covering index.
-- Without it the updates are HOT, pruned on their page, and the period reads go through the
-- primary key, whose leading columns are the same (workspace_id, day). The deal and product
-- rollups keep theirs: they change when a deal is created, won or lost, not on every command,
-- and the trends read years of them.
DROP INDEX IF EXISTS stage_stay_totals_span;
DROP INDEX IF EXISTS activity_daily_totals_span;
-- Room on each page for the next versions of its rows, so that an update stays on its page
-- (a HOT update needs that) between prunes.
ALTER TABLE stage_stay_totals SET (fillfactor = 70);
ALTER TABLE activity_daily_totals SET (fillfactor = 70);
