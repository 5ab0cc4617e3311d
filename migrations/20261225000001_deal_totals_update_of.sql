-- The deal totals' update trigger names the columns it depends on (`UPDATE OF`) instead of
-- comparing them in its WHEN clause.
--
-- PostgreSQL prepares a trigger's WHEN clause afresh for every statement that fires it
-- (migration 20261216000000), and this one compared eight columns: every deal move prepared it,
-- and so did every update that changes none of them (an interaction logged against a deal
-- touches only `last_activity_at`). Whether an UPDATE names a column is a check on the
-- statement's target list, with nothing to prepare. The function already returns at once when
-- none of the eight changed, so an update that names one without changing it stays exact.
-- Nothing updates a deal's row as a whole: /undo deletes and inserts it, which the
-- `deal_totals` trigger counts.

DROP TRIGGER deal_totals_update ON deals;
CREATE TRIGGER deal_totals_update
    AFTER UPDATE OF workspace_id, owner_id, stage_id, status, amount_minor, furthest_position, created_at, closed_at
    ON deals
    FOR EACH ROW WHEN (current_setting('salesbot.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION deal_totals_trigger();
