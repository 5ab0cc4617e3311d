-- The two rollup upserts nearly every command makes, without the PL/pgSQL calls around them.
--
-- A move's history splice ends the deal's open stay. Its trigger called `stay_add` twice
-- through PERFORM (the first for the old row, whose stay had no end yet, which returned at
-- once), and `stay_add` read the deal's owner in a statement of its own before its upsert:
-- three statements for one upsert, each started and ended by the executor. A logged call
-- likewise reached its upsert through `activity_totals_add`. Measured with pg_stat_statements
-- on the discord benchmark (issue 13): the `stay_add` call for the new row took 133 µs a move,
-- of which its upsert 76 and the owner's read 23.
--
-- Those common cases are now one statement each, the owner read in the upsert itself (no
-- deal, no row: as `stay_add` returned when it found no owner). Every other case (an edit of
-- a change's time or stage, a delete, an undo, an activity edited or deleted) takes the
-- general path, unchanged.

CREATE OR REPLACE FUNCTION stage_stay_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF rollups_deferred() THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.left_at IS NULL AND NEW.left_at IS NOT NULL
       AND (OLD.workspace_id, OLD.deal_id, OLD.to_stage_id, OLD.changed_at)
           = (NEW.workspace_id, NEW.deal_id, NEW.to_stage_id, NEW.changed_at) THEN
        -- An open stay ended: it counts now, and nothing was counted for it before.
        INSERT INTO stage_stay_totals AS t
        SELECT NEW.workspace_id, (NEW.left_at AT TIME ZONE 'UTC')::date, d.owner_id, NEW.to_stage_id, 1,
               floor(extract(epoch FROM NEW.left_at - NEW.changed_at))::bigint
        FROM deals d
        WHERE d.workspace_id = NEW.workspace_id AND d.id = NEW.deal_id
        ON CONFLICT (workspace_id, day, owner_id, stage_id) DO UPDATE
            SET stays = t.stays + excluded.stays, seconds = t.seconds + excluded.seconds;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE'
       AND (OLD.workspace_id, OLD.deal_id, OLD.to_stage_id, OLD.changed_at, OLD.left_at)
           IS NOT DISTINCT FROM (NEW.workspace_id, NEW.deal_id, NEW.to_stage_id, NEW.changed_at, NEW.left_at) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM stay_add(OLD.workspace_id, OLD.deal_id, NULL, OLD.to_stage_id, OLD.changed_at, OLD.left_at, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM stay_add(NEW.workspace_id, NEW.deal_id, NULL, NEW.to_stage_id, NEW.changed_at, NEW.left_at, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION activity_totals_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF rollups_deferred() THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        -- The same upsert as `activity_totals_add(NEW, 1)`.
        INSERT INTO activity_daily_totals AS t
        VALUES (NEW.workspace_id, (NEW.happened_at AT TIME ZONE 'UTC')::date, NEW.member_id, NEW.kind, 1,
                COALESCE(NEW.satisfaction, 0), (NEW.satisfaction IS NOT NULL)::int)
        ON CONFLICT (workspace_id, day, member_id, kind) DO UPDATE
            SET activities = t.activities + excluded.activities,
                satisfaction_sum = t.satisfaction_sum + excluded.satisfaction_sum,
                satisfaction_count = t.satisfaction_count + excluded.satisfaction_count;
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE'
       AND (OLD.workspace_id, OLD.member_id, OLD.kind, OLD.happened_at, OLD.satisfaction)
           IS NOT DISTINCT FROM (NEW.workspace_id, NEW.member_id, NEW.kind, NEW.happened_at, NEW.satisfaction) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM activity_totals_add(OLD, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM activity_totals_add(NEW, 1);
    END IF;
    RETURN NULL;
END
$$;
