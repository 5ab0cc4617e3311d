-- Bulk writes (imports) keep the rollups the way a batch load can: the row triggers step aside
-- while a transaction has set `salesbot.bulk` to `on` (SET LOCAL, so it ends with the
-- transaction), and the writer adds the new rows' totals in one grouped statement per table
-- (`rollups_add_deals`, `rollups_add_activities`) before it commits. Row by row, the triggers
-- made an import of 8,800 deals take 40 s; the rollups agree either way, and the tests compare
-- every rollup with the raw rows after imports.
--
-- The guard only skips work for new deals, their history, lines and activities, written by a
-- writer that adds their totals itself; everything else runs the triggers as before.

CREATE FUNCTION rollups_deferred() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT current_setting('salesbot.bulk', true) IS NOT DISTINCT FROM 'on'
$$;

CREATE OR REPLACE FUNCTION deal_totals_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
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
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM deal_totals_add(OLD, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM deal_totals_add(NEW, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION stage_change_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF rollups_deferred() THEN
        RETURN NEW;
    END IF;
    SELECT min(sc.changed_at) INTO NEW.left_at FROM stage_changes sc
    WHERE sc.workspace_id = NEW.workspace_id AND sc.deal_id = NEW.deal_id
      AND (sc.changed_at, sc.id) > (NEW.changed_at, NEW.id);
    UPDATE stage_changes sc SET left_at = NEW.changed_at
    WHERE sc.workspace_id = NEW.workspace_id AND sc.deal_id = NEW.deal_id
      AND sc.id = (SELECT p.id FROM stage_changes p
                   WHERE p.workspace_id = NEW.workspace_id AND p.deal_id = NEW.deal_id
                     AND (p.changed_at, p.id) < (NEW.changed_at, NEW.id)
                   ORDER BY p.changed_at DESC, p.id DESC LIMIT 1);
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION stage_stay_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF rollups_deferred() THEN
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

CREATE OR REPLACE FUNCTION deal_row_stays() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF rollups_deferred() THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM stay_add(sc.workspace_id, sc.deal_id, OLD.owner_id, sc.to_stage_id, sc.changed_at, sc.left_at, -1)
        FROM stage_changes sc
        WHERE sc.workspace_id = OLD.workspace_id AND sc.deal_id = OLD.id AND sc.left_at IS NOT NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM stay_add(sc.workspace_id, sc.deal_id, NEW.owner_id, sc.to_stage_id, sc.changed_at, sc.left_at, 1)
        FROM stage_changes sc
        WHERE sc.workspace_id = NEW.workspace_id AND sc.deal_id = NEW.id AND sc.left_at IS NOT NULL;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION product_line_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d RECORD;
BEGIN
    IF rollups_deferred() THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        SELECT owner_id, status, closed_at INTO d FROM deals WHERE workspace_id = OLD.workspace_id AND id = OLD.deal_id;
        IF FOUND THEN
            PERFORM product_line_add(OLD.workspace_id, OLD.product_id, OLD.quantity, OLD.unit_price_minor,
                                     OLD.list_price_minor, d.owner_id, d.status, d.closed_at, -1);
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        SELECT owner_id, status, closed_at INTO d FROM deals WHERE workspace_id = NEW.workspace_id AND id = NEW.deal_id;
        IF FOUND THEN
            PERFORM product_line_add(NEW.workspace_id, NEW.product_id, NEW.quantity, NEW.unit_price_minor,
                                     NEW.list_price_minor, d.owner_id, d.status, d.closed_at, 1);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION deal_lines_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF rollups_deferred() THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM product_line_add(l.workspace_id, l.product_id, l.quantity, l.unit_price_minor, l.list_price_minor,
                                 OLD.owner_id, OLD.status, OLD.closed_at, -1)
        FROM deal_products l WHERE l.workspace_id = OLD.workspace_id AND l.deal_id = OLD.id;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM product_line_add(l.workspace_id, l.product_id, l.quantity, l.unit_price_minor, l.list_price_minor,
                                 NEW.owner_id, NEW.status, NEW.closed_at, 1)
        FROM deal_products l WHERE l.workspace_id = NEW.workspace_id AND l.deal_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;


-- The totals of new deals (with their history and lines), as the triggers would have added them
-- row by row.
CREATE FUNCTION rollups_add_deals(ws BIGINT, ids BIGINT[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO deal_open_totals AS t
    SELECT workspace_id, owner_id, stage_id, count(*), sum(amount_minor)
    FROM deals WHERE workspace_id = ws AND id = ANY(ids) AND status = 'open'
    GROUP BY 1, 2, 3
    ON CONFLICT (workspace_id, owner_id, stage_id) DO UPDATE
        SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor;

    INSERT INTO deal_daily_totals AS t
    SELECT workspace_id, (created_at AT TIME ZONE 'UTC')::date, owner_id, 1, furthest_position,
           count(*), sum(amount_minor), 0
    FROM deals WHERE workspace_id = ws AND id = ANY(ids)
    GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, day, owner_id, kind, key) DO UPDATE
        SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor;

    INSERT INTO deal_daily_totals AS t
    SELECT workspace_id, (closed_at AT TIME ZONE 'UTC')::date, owner_id,
           CASE status WHEN 'won' THEN 2 ELSE 3 END, 0, count(*), sum(amount_minor),
           sum(floor(extract(epoch FROM closed_at - created_at))::bigint)
    FROM deals WHERE workspace_id = ws AND id = ANY(ids) AND status IN ('won', 'lost') AND closed_at IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, day, owner_id, kind, key) DO UPDATE
        SET deals = t.deals + excluded.deals, amount_minor = t.amount_minor + excluded.amount_minor,
            cycle_seconds = t.cycle_seconds + excluded.cycle_seconds;

    INSERT INTO stage_stay_totals AS t
    SELECT sc.workspace_id, (sc.left_at AT TIME ZONE 'UTC')::date, d.owner_id, sc.to_stage_id, count(*),
           sum(floor(extract(epoch FROM sc.left_at - sc.changed_at))::bigint)
    FROM stage_changes sc JOIN deals d ON d.workspace_id = sc.workspace_id AND d.id = sc.deal_id
    WHERE sc.workspace_id = ws AND sc.deal_id = ANY(ids) AND sc.left_at IS NOT NULL
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (workspace_id, day, owner_id, stage_id) DO UPDATE
        SET stays = t.stays + excluded.stays, seconds = t.seconds + excluded.seconds;

    INSERT INTO product_open_totals AS t
    SELECT l.workspace_id, d.owner_id, l.product_id, count(*)
    FROM deal_products l JOIN deals d ON d.workspace_id = l.workspace_id AND d.id = l.deal_id
    WHERE l.workspace_id = ws AND l.deal_id = ANY(ids) AND d.status = 'open'
    GROUP BY 1, 2, 3
    ON CONFLICT (workspace_id, owner_id, product_id) DO UPDATE SET deals = t.deals + excluded.deals;

    INSERT INTO product_daily_totals AS t
    SELECT l.workspace_id, (d.closed_at AT TIME ZONE 'UTC')::date, d.owner_id, l.product_id,
           CASE d.status WHEN 'won' THEN 2 ELSE 3 END, count(*), sum(l.quantity),
           sum(l.quantity::bigint * l.unit_price_minor), sum(l.quantity::bigint * l.list_price_minor)
    FROM deal_products l JOIN deals d ON d.workspace_id = l.workspace_id AND d.id = l.deal_id
    WHERE l.workspace_id = ws AND l.deal_id = ANY(ids) AND d.status IN ('won', 'lost') AND d.closed_at IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, day, owner_id, product_id, kind) DO UPDATE
        SET deals = t.deals + excluded.deals, units = t.units + excluded.units,
            revenue = t.revenue + excluded.revenue, list_value = t.list_value + excluded.list_value;
$$;

-- The totals of new activities.
CREATE FUNCTION rollups_add_activities(ws BIGINT, ids BIGINT[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO activity_daily_totals AS t
    SELECT workspace_id, (happened_at AT TIME ZONE 'UTC')::date, member_id, kind, count(*),
           COALESCE(sum(satisfaction), 0), count(satisfaction)
    FROM activities WHERE workspace_id = ws AND id = ANY(ids)
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (workspace_id, day, member_id, kind) DO UPDATE
        SET activities = t.activities + excluded.activities,
            satisfaction_sum = t.satisfaction_sum + excluded.satisfaction_sum,
            satisfaction_count = t.satisfaction_count + excluded.satisfaction_count;
$$;
