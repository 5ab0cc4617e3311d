-- A deal move is the most frequent write; its triggers did work that changed nothing.
-- Measured with pg_stat_statements on the discord benchmark (issue 13): the history splice's
-- UPDATE cost more than a third of the move statement.

-- The history is read per deal in (changed_at, id) order: with `id` in the index the splice's
-- "change just before this one" is one index entry instead of a sort of the deal's history.
CREATE INDEX stage_changes_deal_order ON stage_changes (workspace_id, deal_id, changed_at, id);
DROP INDEX stage_changes_deal;

-- The change before the new one is found once and updated by its key (the previous form
-- filtered the deal's whole history a second time to find the id).
CREATE OR REPLACE FUNCTION stage_change_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF rollups_deferred() THEN
        RETURN NEW;
    END IF;
    SELECT sc.changed_at INTO NEW.left_at FROM stage_changes sc
    WHERE sc.workspace_id = NEW.workspace_id AND sc.deal_id = NEW.deal_id
      AND (sc.changed_at, sc.id) > (NEW.changed_at, NEW.id)
    ORDER BY sc.changed_at, sc.id LIMIT 1;
    UPDATE stage_changes sc SET left_at = NEW.changed_at
    WHERE sc.workspace_id = NEW.workspace_id
      AND sc.id = (SELECT p.id FROM stage_changes p
                   WHERE p.workspace_id = NEW.workspace_id AND p.deal_id = NEW.deal_id
                     AND (p.changed_at, p.id) < (NEW.changed_at, NEW.id)
                   ORDER BY p.changed_at DESC, p.id DESC LIMIT 1);
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION stage_change_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE stage_changes sc SET left_at = OLD.left_at
    WHERE sc.workspace_id = OLD.workspace_id
      AND sc.id = (SELECT p.id FROM stage_changes p
                   WHERE p.workspace_id = OLD.workspace_id AND p.deal_id = OLD.deal_id
                     AND (p.changed_at, p.id) < (OLD.changed_at, OLD.id)
                   ORDER BY p.changed_at DESC, p.id DESC LIMIT 1);
    RETURN NULL;
END
$$;

-- A stay counts once it has ended: a change appended at the end of a history (every move)
-- has no end yet, and an update that leaves the stay as it was changes no total. The executor
-- now skips those without calling PL/pgSQL; the function keeps its own checks.
DROP TRIGGER stage_stay_totals ON stage_changes;
CREATE TRIGGER stage_stay_totals_insert AFTER INSERT ON stage_changes
    FOR EACH ROW WHEN (NEW.left_at IS NOT NULL AND NOT rollups_deferred())
    EXECUTE FUNCTION stage_stay_trigger();
CREATE TRIGGER stage_stay_totals_update AFTER UPDATE ON stage_changes
    FOR EACH ROW WHEN ((OLD.workspace_id, OLD.deal_id, OLD.to_stage_id, OLD.changed_at, OLD.left_at)
                       IS DISTINCT FROM (NEW.workspace_id, NEW.deal_id, NEW.to_stage_id, NEW.changed_at, NEW.left_at)
                       AND NOT rollups_deferred())
    EXECUTE FUNCTION stage_stay_trigger();
CREATE TRIGGER stage_stay_totals_delete AFTER DELETE ON stage_changes
    FOR EACH ROW WHEN (OLD.left_at IS NOT NULL AND NOT rollups_deferred())
    EXECUTE FUNCTION stage_stay_trigger();

-- The deal totals: an update that leaves every counted column alike is skipped by the
-- executor, and a row whose two sides cancel out (a move leaves the deal's created-day row as
-- it was) is not rewritten: the upsert of a net zero made a new row version and, the rollups'
-- indexes covering their sums, a new entry in each index, for nothing.
DROP TRIGGER deal_totals ON deals;
CREATE TRIGGER deal_totals AFTER INSERT OR DELETE ON deals
    FOR EACH ROW WHEN (NOT rollups_deferred()) EXECUTE FUNCTION deal_totals_trigger();
CREATE TRIGGER deal_totals_update AFTER UPDATE ON deals
    FOR EACH ROW WHEN ((OLD.workspace_id, OLD.owner_id, OLD.stage_id, OLD.status, OLD.amount_minor,
                        OLD.furthest_position, OLD.created_at, OLD.closed_at)
                       IS DISTINCT FROM
                       (NEW.workspace_id, NEW.owner_id, NEW.stage_id, NEW.status, NEW.amount_minor,
                        NEW.furthest_position, NEW.created_at, NEW.closed_at)
                       AND NOT rollups_deferred())
    EXECUTE FUNCTION deal_totals_trigger();

CREATE OR REPLACE FUNCTION deal_totals_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    has_old BOOLEAN := TG_OP IN ('UPDATE', 'DELETE');
    has_new BOOLEAN := TG_OP IN ('UPDATE', 'INSERT');
BEGIN
    IF rollups_deferred() THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE'
       AND (OLD.workspace_id, OLD.owner_id, OLD.stage_id, OLD.status, OLD.amount_minor, OLD.furthest_position,
            OLD.created_at, OLD.closed_at)
           IS NOT DISTINCT FROM
           (NEW.workspace_id, NEW.owner_id, NEW.stage_id, NEW.status, NEW.amount_minor, NEW.furthest_position,
            NEW.created_at, NEW.closed_at) THEN
        RETURN NULL;
    END IF;
    -- Rows in key order, both sides netted per row: concurrent changes take the rows in the
    -- same order (migration 20261202000001), and a row that nets to nothing is left alone.
    INSERT INTO deal_open_totals AS t
    SELECT s.workspace_id, s.owner_id, s.stage_id, sum(s.deals), sum(s.amount_minor)
    FROM (SELECT OLD.workspace_id, OLD.owner_id, OLD.stage_id, -1 AS deals, -OLD.amount_minor AS amount_minor
          WHERE has_old AND OLD.status = 'open'
          UNION ALL
          SELECT NEW.workspace_id, NEW.owner_id, NEW.stage_id, 1, NEW.amount_minor
          WHERE has_new AND NEW.status = 'open') s
    GROUP BY 1, 2, 3
    HAVING sum(s.deals) <> 0 OR sum(s.amount_minor) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (workspace_id, owner_id, stage_id) DO UPDATE
        SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor;
    INSERT INTO deal_daily_totals AS t
    SELECT s.workspace_id, s.day, s.owner_id, s.kind, s.key, sum(s.deals), sum(s.amount_minor), sum(s.cycle_seconds)
    FROM (SELECT OLD.workspace_id, (OLD.created_at AT TIME ZONE 'UTC')::date AS day, OLD.owner_id, 1::smallint AS kind,
                 OLD.furthest_position AS key, -1 AS deals, -OLD.amount_minor AS amount_minor, 0::bigint AS cycle_seconds
          WHERE has_old
          UNION ALL
          SELECT OLD.workspace_id, (OLD.closed_at AT TIME ZONE 'UTC')::date, OLD.owner_id,
                 CASE OLD.status WHEN 'won' THEN 2 ELSE 3 END, 0, -1, -OLD.amount_minor,
                 -floor(extract(epoch FROM OLD.closed_at - OLD.created_at))::bigint
          WHERE has_old AND OLD.status IN ('won', 'lost') AND OLD.closed_at IS NOT NULL
          UNION ALL
          SELECT NEW.workspace_id, (NEW.created_at AT TIME ZONE 'UTC')::date, NEW.owner_id, 1,
                 NEW.furthest_position, 1, NEW.amount_minor, 0
          WHERE has_new
          UNION ALL
          SELECT NEW.workspace_id, (NEW.closed_at AT TIME ZONE 'UTC')::date, NEW.owner_id,
                 CASE NEW.status WHEN 'won' THEN 2 ELSE 3 END, 0, 1, NEW.amount_minor,
                 floor(extract(epoch FROM NEW.closed_at - NEW.created_at))::bigint
          WHERE has_new AND NEW.status IN ('won', 'lost') AND NEW.closed_at IS NOT NULL) s
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(s.deals) <> 0 OR sum(s.amount_minor) <> 0 OR sum(s.cycle_seconds) <> 0
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, day, owner_id, kind, key) DO UPDATE
        SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor,
            cycle_seconds = t.cycle_seconds + excluded.cycle_seconds;
    RETURN NULL;
END
$$;
