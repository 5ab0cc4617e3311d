-- Covering indexes for /pipeline stats, so the cohort and closed-deal scans are index-only
-- (measured on 100k deals in one workspace: 32 ms and 44 ms as heap scans).
DROP INDEX deals_created;
CREATE INDEX deals_created ON deals (workspace_id, created_at) INCLUDE (furthest_position, owner_id);
DROP INDEX deals_closed;
CREATE INDEX deals_closed ON deals (workspace_id, closed_at) INCLUDE (status, amount_minor, created_at, owner_id)
    WHERE closed_at IS NOT NULL;

-- Stage history must name stages that exist: /undo of a new stage that deals have since
-- entered is then refused instead of leaving history pointing nowhere.
ALTER TABLE stage_changes
    ADD FOREIGN KEY (workspace_id, to_stage_id) REFERENCES stages (workspace_id, id) DEFERRABLE,
    ADD FOREIGN KEY (workspace_id, from_stage_id) REFERENCES stages (workspace_id, id) DEFERRABLE;
ALTER TABLE tasks
    ADD FOREIGN KEY (workspace_id, activity_id) REFERENCES activities (workspace_id, id) DEFERRABLE;
