-- No statement reads the stage history by (workspace, changed_at): a deal's history is read
-- through stage_changes_deal_order and the stay reports through stage_changes_left (keyed by
-- left_at). The index only cost every history row an entry: each move, and an import's
-- hundred thousand rows (issues 11 and 13).
DROP INDEX IF EXISTS stage_changes_time;
