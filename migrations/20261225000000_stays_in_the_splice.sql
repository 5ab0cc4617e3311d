-- A deal move fires one PL/pgSQL trigger on its history row, not two, and probes the deal's
-- history once, not twice.
--
-- The stay a new change ends was counted by an AFTER INSERT trigger (`stage_stay_totals_insert`)
-- next to the BEFORE INSERT one that finds that stay (`stage_change_splice`). Each PL/pgSQL
-- trigger a row fires costs a function call, and each WHEN clause is prepared afresh for every
-- statement (migration 20261216000000). The BEFORE trigger now counts the stay itself. That is
-- as exact: the row's insert and the count are in one statement, which fails whole. It also
-- puts the move's rollup rows in the order /undo takes them (stays, then the deal's totals).
--
-- The splice looked for the change before the new one and for the one after it: two probes of
-- the deal's history index. A move appends, so the deal's latest change comes before it and
-- nothing after; one probe for the latest change settles that case. Only a change written into
-- the middle (an import's dated move, /undo putting a change back) still looks both ways.

CREATE OR REPLACE FUNCTION stage_change_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_at TIMESTAMPTZ;
    last_id BIGINT;
    last_stage BIGINT;
    next_id BIGINT;
BEGIN
    IF rollups_deferred() THEN
        RETURN NEW;
    END IF;
    SELECT p.changed_at, p.id, p.to_stage_id INTO last_at, last_id, last_stage
    FROM stage_changes p
    WHERE p.workspace_id = NEW.workspace_id AND p.deal_id = NEW.deal_id
    ORDER BY p.changed_at DESC, p.id DESC LIMIT 1;
    IF last_id IS NULL OR (last_at, last_id) < (NEW.changed_at, NEW.id) THEN
        NEW.ended_stage_id := last_stage;
        NEW.ended_entered_at := last_at;
    ELSE
        SELECT p.to_stage_id, p.changed_at INTO NEW.ended_stage_id, NEW.ended_entered_at
        FROM stage_changes p
        WHERE p.workspace_id = NEW.workspace_id AND p.deal_id = NEW.deal_id
          AND (p.changed_at, p.id) < (NEW.changed_at, NEW.id)
        ORDER BY p.changed_at DESC, p.id DESC LIMIT 1;
        SELECT n.id INTO next_id FROM stage_changes n
        WHERE n.workspace_id = NEW.workspace_id AND n.deal_id = NEW.deal_id
          AND (n.changed_at, n.id) > (NEW.changed_at, NEW.id)
        ORDER BY n.changed_at, n.id LIMIT 1;
        IF next_id IS NOT NULL THEN
            UPDATE stage_changes sc SET ended_stage_id = NEW.to_stage_id, ended_entered_at = NEW.changed_at
            WHERE sc.workspace_id = NEW.workspace_id AND sc.id = next_id;
        END IF;
    END IF;
    -- The stay counts on the day of the change, for the deal's owner (no deal, no row: the
    -- insert then fails its foreign key anyway).
    IF NEW.ended_entered_at IS NOT NULL THEN
        INSERT INTO stage_stay_totals AS t
        SELECT NEW.workspace_id, (NEW.changed_at AT TIME ZONE 'UTC')::date, d.owner_id, NEW.ended_stage_id, 1,
               floor(extract(epoch FROM NEW.changed_at - NEW.ended_entered_at))::bigint
        FROM deals d
        WHERE d.workspace_id = NEW.workspace_id AND d.id = NEW.deal_id
        ON CONFLICT (workspace_id, day, owner_id, stage_id) DO UPDATE
            SET stays = t.stays + excluded.stays, seconds = t.seconds + excluded.seconds;
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER stage_stay_totals_insert ON stage_changes;
