-- A deal move writes stage_id, furthest_position, updated_at and last_activity_at. Four indexes
-- held one of those (deals_status_stage and deals_expected_close the stage, deals_created the
-- furthest position, deals_updated the update time), so no move could be HOT: each one added an
-- entry to all ten of the table's indexes and left a dead version behind, which every read of
-- the deal walked until vacuum came. On the discord benchmark (200 deals, 560 moves a second):
-- 55,849 updates, none HOT, 24,134 dead versions and 12 MB for 200 rows; with autovacuum's
-- visits a minute apart, PostgreSQL's CPU per command doubled between them.
--
-- Without those columns in any index, a move to another open stage is HOT: it adds no index
-- entry and its dead version is pruned on its page. Won and lost still change `status`, which
-- stays indexed: they are rarer, and the closed reads need it.
--
-- What the indexes no longer hold:
-- - the stage of an open deal: the pipeline's open totals come from deal_open_totals and the
--   deal list reads the deal's row anyway. The forecast read open deals' stages from
--   deals_expected_close alone and now reads their rows: on the 1M-deal bench's workspace of
--   100,900 deals 17-33 ms against 10-22 ms, inside its target;
-- - the furthest position in deals_created: only the partial days at a period's edges read
--   deals by creation time, at most a day of deals each;
-- - the update time: the HTTP API's `updated_since` filter now walks the workspace's deals in
--   id order, as its pages do, instead of jumping to the recent ones. At worst (no deal
--   changed since) that is 22-29 ms a page on the 1M-deal bench's workspace of 100,900 deals.
DROP INDEX deals_updated;
DROP INDEX deals_status_stage;
CREATE INDEX deals_status ON deals (workspace_id, status) INCLUDE (amount_minor, owner_id);
DROP INDEX deals_expected_close;
CREATE INDEX deals_expected_close ON deals (workspace_id, expected_close) INCLUDE (amount_minor, owner_id)
    WHERE status = 'open';
DROP INDEX deals_created;
CREATE INDEX deals_created ON deals (workspace_id, created_at) INCLUDE (owner_id, amount_minor);
-- Room on each page for a moved deal's next version: a HOT update needs it on the same page,
-- and a prune frees it again.
ALTER TABLE deals SET (fillfactor = 90);
