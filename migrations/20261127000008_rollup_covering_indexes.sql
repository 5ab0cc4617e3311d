-- The reports read a workspace's rollup rows for a span of days: thousands of rows that
-- constant upserts scatter over the heap (measured on the 100k-deal benchmark workspace:
-- 5,131 heap blocks for 24,804 deal totals rows, 87 ms; stays 10,282 blocks, 100 ms).
-- Covering indexes make those reads index-only, whatever the heap looks like.
CREATE INDEX IF NOT EXISTS deal_daily_totals_span ON deal_daily_totals (workspace_id, day)
    INCLUDE (owner_id, kind, key, deals, amount_minor, cycle_seconds);
CREATE INDEX IF NOT EXISTS stage_stay_totals_span ON stage_stay_totals (workspace_id, day)
    INCLUDE (owner_id, stage_id, stays, seconds);
CREATE INDEX IF NOT EXISTS activity_daily_totals_span ON activity_daily_totals (workspace_id, day)
    INCLUDE (member_id, kind, activities, satisfaction_sum, satisfaction_count);

-- Product figures as rollups too: a large workspace's products report joined 200k lines with
-- 27k closed and 40k open deals (300-550 ms). Lines of closed deals count per UTC day of the
-- close, owner, product and outcome; lines of open deals per owner and product. Kept like the
-- stays: a deal's lines count while the deal row exists, in the deal's current state, so
-- closing, reopening, reassigning, editing lines and /undo's row restore all keep them exact.
CREATE TABLE product_daily_totals (
    workspace_id  BIGINT NOT NULL,
    day           DATE NOT NULL,
    owner_id      BIGINT NOT NULL,
    product_id    BIGINT NOT NULL,
    kind          SMALLINT NOT NULL CHECK (kind IN (2, 3)),
    deals         BIGINT NOT NULL,
    units         BIGINT NOT NULL,
    revenue       BIGINT NOT NULL,
    list_value    BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, day, owner_id, product_id, kind)
);
CREATE INDEX product_daily_totals_span ON product_daily_totals (workspace_id, day)
    INCLUDE (owner_id, product_id, kind, deals, units, revenue, list_value);

CREATE TABLE product_open_totals (
    workspace_id  BIGINT NOT NULL,
    owner_id      BIGINT NOT NULL,
    product_id    BIGINT NOT NULL,
    deals         BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, owner_id, product_id)
);

CREATE FUNCTION product_line_add(ws BIGINT, product BIGINT, quantity INT, unit_price BIGINT, list_price BIGINT,
                                 owner BIGINT, status TEXT, closed_at TIMESTAMPTZ, sign INT)
    RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF status = 'open' THEN
        INSERT INTO product_open_totals AS t VALUES (ws, owner, product, sign)
        ON CONFLICT (workspace_id, owner_id, product_id) DO UPDATE SET deals = t.deals + excluded.deals;
    ELSIF status IN ('won', 'lost') AND closed_at IS NOT NULL THEN
        INSERT INTO product_daily_totals AS t
        VALUES (ws, (closed_at AT TIME ZONE 'UTC')::date, owner, product,
                CASE status WHEN 'won' THEN 2 ELSE 3 END, sign, sign * quantity,
                sign * quantity::bigint * unit_price, sign * quantity::bigint * list_price)
        ON CONFLICT (workspace_id, day, owner_id, product_id, kind) DO UPDATE
            SET deals = t.deals + excluded.deals, units = t.units + excluded.units,
                revenue = t.revenue + excluded.revenue, list_value = t.list_value + excluded.list_value;
    END IF;
END
$$;

-- A line changed: count it (in and out) under its deal's current state.
CREATE FUNCTION product_line_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d RECORD;
BEGIN
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
CREATE TRIGGER product_line_totals AFTER INSERT OR UPDATE OR DELETE ON deal_products
    FOR EACH ROW EXECUTE FUNCTION product_line_trigger();

-- A deal changed state: its lines move from the old state's totals to the new one's.
CREATE FUNCTION deal_lines_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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
CREATE TRIGGER deal_lines_rows AFTER INSERT OR DELETE ON deals
    FOR EACH ROW EXECUTE FUNCTION deal_lines_trigger();
CREATE TRIGGER deal_lines_state AFTER UPDATE OF owner_id, status, closed_at ON deals
    FOR EACH ROW WHEN ((OLD.owner_id, OLD.status, OLD.closed_at) IS DISTINCT FROM (NEW.owner_id, NEW.status, NEW.closed_at))
    EXECUTE FUNCTION deal_lines_trigger();

-- The lines already there.
INSERT INTO product_daily_totals
SELECT l.workspace_id, (d.closed_at AT TIME ZONE 'UTC')::date, d.owner_id, l.product_id,
       CASE d.status WHEN 'won' THEN 2 ELSE 3 END, count(*), sum(l.quantity),
       sum(l.quantity::bigint * l.unit_price_minor), sum(l.quantity::bigint * l.list_price_minor)
FROM deal_products l JOIN deals d ON d.workspace_id = l.workspace_id AND d.id = l.deal_id
WHERE d.status IN ('won', 'lost') AND d.closed_at IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;
INSERT INTO product_open_totals
SELECT l.workspace_id, d.owner_id, l.product_id, count(*)
FROM deal_products l JOIN deals d ON d.workspace_id = l.workspace_id AND d.id = l.deal_id
WHERE d.status = 'open'
GROUP BY 1, 2, 3;
