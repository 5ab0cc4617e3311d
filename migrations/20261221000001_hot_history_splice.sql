-- A move ends the deal's current stay: the history splice sets `left_at` on the change before
-- it. stage_changes_left was keyed by `left_at`, so that update could not be HOT: it added an
-- entry to all three of the table's indexes and left a dead version behind. On the discord
-- benchmark: 55,849 updates, none HOT, 16,000-24,000 dead versions between vacuums.
--
-- The one read of stays by their end (the partial days at a period's edges, `store/stats.rs`
-- `STAYS`) now finds them through the changes that ended them: a stay's `left_at` is always
-- the `changed_at` of a later change of the same deal (the splice, its undo and the import all
-- keep that), so the stays that ended in an edge belong to the deals with a change in it. With
-- `left_at` in no index, the splice's update is HOT; an insert adds one entry to the time index
-- instead, as it added one to stage_changes_left when its stay ended.
DROP INDEX stage_changes_left;
CREATE INDEX stage_changes_time ON stage_changes (workspace_id, changed_at) INCLUDE (deal_id);
-- Room on each page for a change's second version (its `left_at`): a HOT update needs it on
-- the same page, and a prune frees it again.
ALTER TABLE stage_changes SET (fillfactor = 90);
