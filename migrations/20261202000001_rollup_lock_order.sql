-- A deal's change moves its running totals from one row to another (a move: the old stage's
-- open total down, the new stage's up). Done as two upserts in the order old, new, two moves
-- of one owner's deals in opposite directions (Qualified -> Proposal and Proposal ->
-- Qualified) locked the same two rows in opposite orders and deadlocked: measured with four
-- clients moving deals of one workspace, 1% of the moves failed and the rest queued behind
-- each other (275 moves/s; 1,170 with the trigger off). Now each table's rows are upserted in
-- one statement in key order, with both sides of the change netted per row, so concurrent
-- changes take the rows in the same order: they may wait for each other, never deadlock.
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
    INSERT INTO deal_open_totals AS t
    SELECT s.workspace_id, s.owner_id, s.stage_id, sum(s.deals), sum(s.amount_minor)
    FROM (SELECT OLD.workspace_id, OLD.owner_id, OLD.stage_id, -1 AS deals, -OLD.amount_minor AS amount_minor
          WHERE has_old AND OLD.status = 'open'
          UNION ALL
          SELECT NEW.workspace_id, NEW.owner_id, NEW.stage_id, 1, NEW.amount_minor
          WHERE has_new AND NEW.status = 'open') s
    GROUP BY 1, 2, 3
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
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, day, owner_id, kind, key) DO UPDATE
        SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor,
            cycle_seconds = t.cycle_seconds + excluded.cycle_seconds;
    RETURN NULL;
END
$$;
