-- A deal move appends to the deal's history and updates none of it.
--
-- A stay in a stage ended when the deal's next change happened, and that end was written back
-- onto the change that began the stay (`left_at`): every move updated the deal's previous
-- change. That update could not be HOT (`left_at` is in an index), so it wrote a new version
-- of the row, an entry in each of the table's three indexes and a dead version for vacuum.
-- Measured with pg_stat_statements on the discord benchmark (issue 13): 103 µs of a move's
-- 480 µs in PostgreSQL, and about four of the sixteen WAL records a command writes there,
-- where flushing WAL is what the server queues on at its highest rates.
--
-- Now the change that ends a stay carries it: `ended_stage_id` and `ended_entered_at` are the
-- stage the deal left and when it had entered it (NULL on a deal's first change). The stay
-- ended at the change's own `changed_at`. The stay rollups stay as they were (keyed by the
-- day the stay ended), so no report changes.
--
-- A change written into the middle of a history (an import's dated move, an /undo that puts
-- a deleted change back) still updates one row: the next change, whose ended stay is now the
-- new one. Deleting a change gives the next one the stay the deleted change ended. No stage
-- key: the ended stage is always an earlier change's `to_stage_id`, which has one.

ALTER TABLE stage_changes ADD COLUMN ended_stage_id BIGINT, ADD COLUMN ended_entered_at TIMESTAMPTZ;

-- The old triggers go first, so the backfill fires none (it changes no stay: each stay keeps
-- its stage, start and end, and so its day, owner and length).
DROP TRIGGER stage_change_splice ON stage_changes;
DROP TRIGGER stage_change_unsplice ON stage_changes;
DROP TRIGGER stage_stay_totals_insert ON stage_changes;
DROP TRIGGER stage_stay_totals_update ON stage_changes;
DROP TRIGGER stage_stay_totals_delete ON stage_changes;

UPDATE stage_changes sc SET ended_stage_id = p.stage_id, ended_entered_at = p.entered_at
FROM (SELECT workspace_id, id,
             lag(to_stage_id) OVER w AS stage_id, lag(changed_at) OVER w AS entered_at
      FROM stage_changes
      WINDOW w AS (PARTITION BY workspace_id, deal_id ORDER BY changed_at, id)) p
WHERE sc.workspace_id = p.workspace_id AND sc.id = p.id AND p.entered_at IS NOT NULL;

-- The stays that ended in a time range, for the partial days at a period's edges.
DROP INDEX stage_changes_left;
ALTER TABLE stage_changes DROP COLUMN left_at;
CREATE INDEX stage_changes_ended ON stage_changes (workspace_id, changed_at)
    INCLUDE (ended_stage_id, ended_entered_at, deal_id)
    WHERE ended_entered_at IS NOT NULL;

-- The stay a new change ends is the one its predecessor began. An appended change (every
-- move) has no successor, and the look for one is a probe of the deal's history index that
-- finds nothing; only a change written into the middle updates its successor.
CREATE OR REPLACE FUNCTION stage_change_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    next_id BIGINT;
BEGIN
    IF rollups_deferred() THEN
        RETURN NEW;
    END IF;
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
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION stage_change_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE stage_changes sc SET ended_stage_id = OLD.ended_stage_id, ended_entered_at = OLD.ended_entered_at
    WHERE sc.workspace_id = OLD.workspace_id
      AND sc.id = (SELECT n.id FROM stage_changes n
                   WHERE n.workspace_id = OLD.workspace_id AND n.deal_id = OLD.deal_id
                     AND (n.changed_at, n.id) > (OLD.changed_at, OLD.id)
                   ORDER BY n.changed_at, n.id LIMIT 1);
    RETURN NULL;
END
$$;

-- The stay a change ends counts on the day of its `changed_at`, for the deal's owner (no deal,
-- no row: its stays went with it, see `deal_row_stays`). An update or delete nets both sides
-- per rollup row, in key order as the deal totals do, in one upsert.
CREATE OR REPLACE FUNCTION stage_stay_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF rollups_deferred() THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        -- Every move: one side, so no netting (the general form's sort and grouping cost the
        -- common case for nothing).
        INSERT INTO stage_stay_totals AS t
        SELECT NEW.workspace_id, (NEW.changed_at AT TIME ZONE 'UTC')::date, d.owner_id, NEW.ended_stage_id, 1,
               floor(extract(epoch FROM NEW.changed_at - NEW.ended_entered_at))::bigint
        FROM deals d
        WHERE d.workspace_id = NEW.workspace_id AND d.id = NEW.deal_id
        ON CONFLICT (workspace_id, day, owner_id, stage_id) DO UPDATE
            SET stays = t.stays + excluded.stays, seconds = t.seconds + excluded.seconds;
        RETURN NULL;
    END IF;
    INSERT INTO stage_stay_totals AS t
    SELECT s.workspace_id, s.day, d.owner_id, s.stage_id, sum(s.stays), sum(s.seconds)
    FROM (SELECT OLD.workspace_id, OLD.deal_id, (OLD.changed_at AT TIME ZONE 'UTC')::date AS day,
                 OLD.ended_stage_id AS stage_id, -1 AS stays,
                 -floor(extract(epoch FROM OLD.changed_at - OLD.ended_entered_at))::bigint AS seconds
          WHERE OLD.ended_entered_at IS NOT NULL
          UNION ALL
          SELECT NEW.workspace_id, NEW.deal_id, (NEW.changed_at AT TIME ZONE 'UTC')::date,
                 NEW.ended_stage_id, 1, floor(extract(epoch FROM NEW.changed_at - NEW.ended_entered_at))::bigint
          WHERE TG_OP = 'UPDATE' AND NEW.ended_entered_at IS NOT NULL) s
    JOIN deals d ON d.workspace_id = s.workspace_id AND d.id = s.deal_id
    GROUP BY 1, 2, 3, 4
    HAVING sum(s.stays) <> 0 OR sum(s.seconds) <> 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (workspace_id, day, owner_id, stage_id) DO UPDATE
        SET stays = t.stays + excluded.stays, seconds = t.seconds + excluded.seconds;
    RETURN NULL;
END
$$;

-- A deal's stays move with its row (a new owner, a deal deleted or put back by /undo).
CREATE OR REPLACE FUNCTION deal_row_stays() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF rollups_deferred() THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM stay_add(sc.workspace_id, sc.deal_id, OLD.owner_id, sc.ended_stage_id, sc.ended_entered_at,
                         sc.changed_at, -1)
        FROM stage_changes sc
        WHERE sc.workspace_id = OLD.workspace_id AND sc.deal_id = OLD.id AND sc.ended_entered_at IS NOT NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM stay_add(sc.workspace_id, sc.deal_id, NEW.owner_id, sc.ended_stage_id, sc.ended_entered_at,
                         sc.changed_at, 1)
        FROM stage_changes sc
        WHERE sc.workspace_id = NEW.workspace_id AND sc.deal_id = NEW.id AND sc.ended_entered_at IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;

-- An import's new deals come with their history whole, each change with the stay it ends;
-- their stays are added from those arrays. The parameters are renamed, so the function is
-- made anew.
DROP FUNCTION rollups_add_new_deals(BIGINT, BIGINT[], BIGINT[], BIGINT[], TEXT[], BIGINT[], TIMESTAMPTZ[],
                                    TIMESTAMPTZ[], INT[], BIGINT[], BIGINT[], TIMESTAMPTZ[], TIMESTAMPTZ[],
                                    BIGINT[], BIGINT[], INT[], BIGINT[], BIGINT[]);

CREATE FUNCTION rollups_add_new_deals(
    ws BIGINT,
    ids BIGINT[], owners BIGINT[], stages BIGINT[], statuses TEXT[], amounts BIGINT[],
    created TIMESTAMPTZ[], closed TIMESTAMPTZ[], furthest INT[],
    change_deals BIGINT[], change_at TIMESTAMPTZ[], ended_stages BIGINT[], ended_entered TIMESTAMPTZ[],
    line_deals BIGINT[], line_products BIGINT[], line_quantities INT[], line_units BIGINT[],
    line_lists BIGINT[]
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO deal_open_totals AS t
    SELECT ws, d.o, d.s, count(*), sum(d.a)
    FROM unnest(owners, stages, statuses, amounts) AS d(o, s, st, a)
    WHERE d.st = 'open'
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (workspace_id, owner_id, stage_id) DO UPDATE
        SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor;

    INSERT INTO deal_daily_totals AS t
    SELECT ws, (d.c AT TIME ZONE 'UTC')::date, d.o, 1, d.f, count(*), sum(d.a), 0
    FROM unnest(owners, amounts, created, furthest) AS d(o, a, c, f)
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, day, owner_id, kind, key) DO UPDATE
        SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor;

    INSERT INTO deal_daily_totals AS t
    SELECT ws, (d.cl AT TIME ZONE 'UTC')::date, d.o, CASE d.st WHEN 'won' THEN 2 ELSE 3 END, 0,
           count(*), sum(d.a), sum(floor(extract(epoch FROM d.cl - d.c))::bigint)
    FROM unnest(owners, statuses, amounts, created, closed) AS d(o, st, a, c, cl)
    WHERE d.st IN ('won', 'lost') AND d.cl IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, day, owner_id, kind, key) DO UPDATE
        SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor,
            cycle_seconds = t.cycle_seconds + excluded.cycle_seconds;

    INSERT INTO stage_stay_totals AS t
    SELECT ws, (sc.at AT TIME ZONE 'UTC')::date, d.o, sc.s, count(*),
           sum(floor(extract(epoch FROM sc.at - sc.e))::bigint)
    FROM unnest(change_deals, change_at, ended_stages, ended_entered) AS sc(id, at, s, e)
    JOIN unnest(ids, owners) AS d(id, o) ON d.id = sc.id
    WHERE sc.e IS NOT NULL
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (workspace_id, day, owner_id, stage_id) DO UPDATE
        SET stays = t.stays + excluded.stays, seconds = t.seconds + excluded.seconds;

    INSERT INTO product_open_totals AS t
    SELECT ws, d.o, l.p, count(*)
    FROM unnest(line_deals, line_products) AS l(id, p)
    JOIN unnest(ids, owners, statuses) AS d(id, o, st) ON d.id = l.id
    WHERE d.st = 'open'
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (workspace_id, owner_id, product_id) DO UPDATE SET deals = t.deals + excluded.deals;

    INSERT INTO product_daily_totals AS t
    SELECT ws, (d.cl AT TIME ZONE 'UTC')::date, d.o, l.p, CASE d.st WHEN 'won' THEN 2 ELSE 3 END,
           count(*), sum(l.q), sum(l.q::bigint * l.u), sum(l.q::bigint * l.li)
    FROM unnest(line_deals, line_products, line_quantities, line_units, line_lists) AS l(id, p, q, u, li)
    JOIN unnest(ids, owners, statuses, closed) AS d(id, o, st, cl) ON d.id = l.id
    WHERE d.st IN ('won', 'lost') AND d.cl IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, day, owner_id, product_id, kind) DO UPDATE
        SET deals = t.deals + excluded.deals, units = t.units + excluded.units,
            revenue = t.revenue + excluded.revenue, list_value = t.list_value + excluded.list_value;
$$;

-- Same names as before, so they fire in the same order (by name). The guard is written out
-- (migration 20261216000000). The stay triggers fire only on changes that end a stay, or
-- that stop ending one.
CREATE TRIGGER stage_change_splice BEFORE INSERT ON stage_changes
    FOR EACH ROW WHEN (current_setting('salesbot.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION stage_change_before_insert();
CREATE TRIGGER stage_change_unsplice AFTER DELETE ON stage_changes
    FOR EACH ROW EXECUTE FUNCTION stage_change_after_delete();
CREATE TRIGGER stage_stay_totals_insert AFTER INSERT ON stage_changes
    FOR EACH ROW WHEN (NEW.ended_entered_at IS NOT NULL
                       AND current_setting('salesbot.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION stage_stay_trigger();
CREATE TRIGGER stage_stay_totals_update AFTER UPDATE ON stage_changes
    FOR EACH ROW WHEN ((OLD.workspace_id, OLD.deal_id, OLD.ended_stage_id, OLD.ended_entered_at, OLD.changed_at)
                       IS DISTINCT FROM
                       (NEW.workspace_id, NEW.deal_id, NEW.ended_stage_id, NEW.ended_entered_at, NEW.changed_at)
                       AND current_setting('salesbot.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION stage_stay_trigger();
CREATE TRIGGER stage_stay_totals_delete AFTER DELETE ON stage_changes
    FOR EACH ROW WHEN (OLD.ended_entered_at IS NOT NULL
                       AND current_setting('salesbot.bulk', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION stage_stay_trigger();
