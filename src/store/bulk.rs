//! Generating a benchmark-sized data set inside Postgres: a million deals never cross the
//! wire. Deterministic (`setseed`), so runs are comparable.

use super::{Store, StoreResult};

/// The shape of the generated data.
#[derive(Clone, Copy, Debug)]
pub struct BulkShape {
    /// Workspaces 1..=workspaces are created.
    pub workspaces: i64,
    /// Deals in workspace 1, the large one the benchmark measures.
    pub large_deals: i64,
    /// Deals in every other workspace.
    pub deals_per_workspace: i64,
    /// Activities per deal.
    pub activities_per_deal: i64,
    /// Reps per workspace (user ids 1..=reps).
    pub reps: i64,
}

impl Store {
    /// Whether the benchmark data set is already there.
    pub async fn bulk_present(&self, shape: &BulkShape) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM workspaces")
            .fetch_one(self.pool())
            .await?;
        Ok(n >= shape.workspaces)
    }

    /// Generates the whole data set in a handful of statements.
    pub async fn bulk_generate(&self, shape: &BulkShape) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        let c = &mut *tx;
        sqlx::query("SELECT setseed(0.42)").execute(&mut *c).await?;
        sqlx::query("INSERT INTO workspaces (id, name) SELECT g, 'team ' || g FROM generate_series(1, $1) g")
            .bind(shape.workspaces)
            .execute(&mut *c)
            .await?;
        sqlx::query(
            "INSERT INTO deal_counters (workspace_id, next_number)
             SELECT g, CASE WHEN g = 1 THEN $2 ELSE $3 END + 1 FROM generate_series(1, $1) g",
        )
        .bind(shape.workspaces)
        .bind(shape.large_deals)
        .bind(shape.deals_per_workspace)
        .execute(&mut *c)
        .await?;
        sqlx::query(
            "INSERT INTO stages (workspace_id, name, position, probability, kind)
             SELECT g, s.name, s.position, s.probability, s.kind
             FROM generate_series(1, $1) g,
                  (VALUES ('Lead', 1, 10, 'open'), ('Qualified', 2, 25, 'open'), ('Proposal', 3, 50, 'open'),
                          ('Negotiation', 4, 75, 'open'), ('Won', 5, 100, 'won'), ('Lost', 6, 0, 'lost'))
                  AS s(name, position, probability, kind)",
        )
        .bind(shape.workspaces)
        .execute(&mut *c)
        .await?;
        sqlx::query(
            "INSERT INTO members (workspace_id, user_id, display_name, role, quota_minor)
             SELECT g, u, 'rep ' || u, CASE WHEN u = 1 THEN 'manager' ELSE 'rep' END, 5000000
             FROM generate_series(1, $1) g, generate_series(1, $2) u",
        )
        .bind(shape.workspaces)
        .bind(shape.reps)
        .execute(&mut *c)
        .await?;
        sqlx::query(
            "INSERT INTO companies (workspace_id, name, owner_id, industry, tier, tags)
             SELECT g, 'company ' || k, 1 + k % $2, 'industry ' || k % 8, (ARRAY['A', 'B', 'C'])[1 + k % 3],
                    CASE WHEN k % 4 = 0 THEN ARRAY['high-value'] ELSE ARRAY['potential'] END
             FROM generate_series(1, $1) g, generate_series(1, 50) k",
        )
        .bind(shape.workspaces)
        .bind(shape.reps)
        .execute(&mut *c)
        .await?;
        sqlx::query(
            "INSERT INTO contacts (workspace_id, name, company_id, owner_id, email)
             SELECT co.workspace_id, 'contact ' || co.id || '-' || k, co.id, co.owner_id,
                    'c' || co.id || '-' || k || '@example.com'
             FROM companies co, generate_series(1, 2) k",
        )
        .execute(&mut *c)
        .await?;
        // Final positions: 40% open in some stage, 25% won, 35% lost; furthest reached is the
        // final stage for open and won deals, and some open stage for lost ones.
        sqlx::query(
            "CREATE TEMP TABLE gen_deals ON COMMIT DROP AS
             SELECT w AS workspace_id, n AS number,
                    now() - (random() * interval '180 days') AS created_at,
                    (200000 + floor(random() * 15000000))::bigint AS amount_minor,
                    1 + (n % $4) AS owner_id,
                    random() AS fate, 1 + floor(random() * 4)::int AS open_pos
             FROM generate_series(1, $1) w,
                  LATERAL generate_series(1, CASE WHEN w = 1 THEN $2 ELSE $3 END) n",
        )
        .bind(shape.workspaces)
        .bind(shape.large_deals)
        .bind(shape.deals_per_workspace)
        .bind(shape.reps)
        .execute(&mut *c)
        .await?;
        sqlx::query(
            "INSERT INTO deals (workspace_id, number, title, company_id, contact_id, owner_id, amount_minor, currency,
                                stage_id, status, closed_at, lost_reason, furthest_position, created_at, updated_at,
                                last_activity_at)
             SELECT d.workspace_id, d.number, 'deal ' || d.number,
                    (SELECT co.id FROM companies co WHERE co.workspace_id = d.workspace_id
                     ORDER BY co.id OFFSET (d.number * 13) % 50 LIMIT 1),
                    NULL, d.owner_id, d.amount_minor, 'USD',
                    s.id, s.kind,
                    CASE WHEN s.kind <> 'open' THEN d.created_at + (random() * interval '60 days') END,
                    CASE WHEN s.kind = 'lost' THEN 'price' END,
                    CASE WHEN s.kind = 'lost' THEN d.open_pos ELSE s.position END,
                    d.created_at, d.created_at, d.created_at
             FROM gen_deals d
             JOIN stages s ON s.workspace_id = d.workspace_id
              AND s.position = CASE WHEN d.fate < 0.40 THEN d.open_pos WHEN d.fate < 0.65 THEN 5 ELSE 6 END",
        )
        .execute(&mut *c)
        .await?;
        // Open deals expect to close within the next quarter (every tenth has no date).
        sqlx::query(
            "UPDATE deals SET expected_close = (now() + (id % 90) * interval '1 day')::date
             WHERE status = 'open' AND id % 10 <> 0",
        )
        .execute(&mut *c)
        .await?;
        // The history and the activities go in with triggers off (row by row they would take
        // minutes); the stays and the rollups are then derived in one pass each.
        sqlx::query("SET LOCAL session_replication_role = replica")
            .execute(&mut *c)
            .await?;
        sqlx::query(
            "INSERT INTO stage_changes (workspace_id, deal_id, from_stage_id, to_stage_id, changed_by, changed_at)
             SELECT d.workspace_id, d.id, NULL, s.id, d.owner_id, d.created_at + (p - 1) * interval '5 days'
             FROM deals d
             CROSS JOIN LATERAL generate_series(1, d.furthest_position) p
             JOIN stages s ON s.workspace_id = d.workspace_id AND s.position = p",
        )
        .execute(&mut *c)
        .await?;
        sqlx::query(
            "INSERT INTO stage_changes (workspace_id, deal_id, from_stage_id, to_stage_id, changed_by, changed_at)
             SELECT d.workspace_id, d.id, NULL, d.stage_id, d.owner_id, d.closed_at
             FROM deals d WHERE d.status = 'lost'",
        )
        .execute(&mut *c)
        .await?;
        sqlx::query(
            "CREATE TEMP TABLE gen_contacts ON COMMIT DROP AS
             SELECT workspace_id, (row_number() OVER (PARTITION BY workspace_id ORDER BY id) - 1)::int AS idx, id
             FROM contacts",
        )
        .execute(&mut *c)
        .await?;
        sqlx::query(
            "INSERT INTO activities (workspace_id, contact_id, deal_id, member_id, kind, summary, satisfaction, happened_at)
             SELECT d.workspace_id, ct.id, d.id, d.owner_id,
                    (ARRAY['call', 'email', 'meeting', 'visit', 'message', 'note'])[1 + (d.id + k) % 6],
                    'follow-up ' || k, 1 + (d.id + k) % 5, d.created_at + k * interval '3 days'
             FROM deals d
             CROSS JOIN generate_series(1, $1) k
             JOIN gen_contacts ct ON ct.workspace_id = d.workspace_id AND ct.idx = (d.number * 7 + k) % 100",
        )
        .bind(shape.activities_per_deal)
        .execute(&mut *c)
        .await?;
        for sql in [
            "UPDATE stage_changes sc SET ended_stage_id = p.stage_id, ended_entered_at = p.entered_at
             FROM (SELECT workspace_id, id,
                          lag(to_stage_id) OVER w AS stage_id, lag(changed_at) OVER w AS entered_at
                   FROM stage_changes
                   WINDOW w AS (PARTITION BY workspace_id, deal_id ORDER BY changed_at, id)) p
             WHERE sc.workspace_id = p.workspace_id AND sc.id = p.id AND p.entered_at IS NOT NULL",
            "INSERT INTO stage_stay_totals
             SELECT sc.workspace_id, (sc.changed_at AT TIME ZONE 'UTC')::date, d.owner_id, sc.ended_stage_id, count(*),
                    sum(floor(extract(epoch FROM sc.changed_at - sc.ended_entered_at)))::bigint
             FROM stage_changes sc JOIN deals d ON d.workspace_id = sc.workspace_id AND d.id = sc.deal_id
             WHERE sc.ended_entered_at IS NOT NULL
             GROUP BY 1, 2, 3, 4",
            "INSERT INTO activity_daily_totals
             SELECT workspace_id, (happened_at AT TIME ZONE 'UTC')::date, member_id, kind, count(*),
                    COALESCE(sum(satisfaction), 0), count(satisfaction)
             FROM activities GROUP BY 1, 2, 3, 4",
            // Ten products per workspace; each deal carries one to three lines, sold at up
            // to 20% off list, and its amount is the lines' total.
            "INSERT INTO products (workspace_id, name, list_price_minor)
             SELECT g, 'product ' || k, k * 50000 FROM generate_series(1, $1) g, generate_series(1, 10) k",
            "INSERT INTO deal_products (workspace_id, deal_id, product_id, quantity, unit_price_minor, list_price_minor)
             SELECT d.workspace_id, d.id, p.id, 1 + (d.id + j) % 5, p.list_price_minor * (100 - (d.id + j) % 21) / 100,
                    p.list_price_minor
             FROM deals d
             CROSS JOIN generate_series(0, 2) j
             JOIN products p ON p.workspace_id = d.workspace_id AND p.name = 'product ' || (1 + (d.id * 3 + j * 7) % 10)
             WHERE j <= d.id % 3",
            "INSERT INTO product_daily_totals
             SELECT l.workspace_id, (d.closed_at AT TIME ZONE 'UTC')::date, d.owner_id, l.product_id,
                    CASE d.status WHEN 'won' THEN 2 ELSE 3 END, count(*), sum(l.quantity),
                    sum(l.quantity::bigint * l.unit_price_minor), sum(l.quantity::bigint * l.list_price_minor)
             FROM deal_products l JOIN deals d ON d.workspace_id = l.workspace_id AND d.id = l.deal_id
             WHERE d.status IN ('won', 'lost') AND d.closed_at IS NOT NULL
             GROUP BY 1, 2, 3, 4, 5",
            "INSERT INTO product_open_totals
             SELECT l.workspace_id, d.owner_id, l.product_id, count(*)
             FROM deal_products l JOIN deals d ON d.workspace_id = l.workspace_id AND d.id = l.deal_id
             WHERE d.status = 'open'
             GROUP BY 1, 2, 3",
            "SET LOCAL session_replication_role = origin",
            "UPDATE deals d SET amount_minor = l.total
             FROM (SELECT workspace_id, deal_id, sum(quantity::bigint * unit_price_minor) AS total
                   FROM deal_products GROUP BY 1, 2) l
             WHERE d.workspace_id = l.workspace_id AND d.id = l.deal_id",
        ] {
            let q = sqlx::query(sql);
            let q = if sql.contains("$1") { q.bind(shape.workspaces) } else { q };
            q.execute(&mut *c).await?;
        }
        tx.commit().await?;
        // The amounts set from the lines left a dead version of every deal and of the totals rows.
        sqlx::query("VACUUM ANALYZE").execute(self.pool()).await?;
        Ok(())
    }

    /// The audit log and interaction markers a working database holds beside what
    /// [`Store::bulk_generate`] writes: one audit row per history row and interaction of
    /// workspaces 1..=`workspaces`, as the commands that made them write, and a day of
    /// markers (`markers` of them), then their statistics. Left empty, both tables grow by a
    /// tenth between autovacuum's visits under load and every visit analyzes them.
    pub async fn bulk_generate_logs(&self, workspaces: i64, markers: i64) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        for sql in [
            "INSERT INTO audit_log (workspace_id, change_id, actor_id, action, entity, entity_key, after, created_at)
             SELECT workspace_id, nextval('audit_change_ids'), changed_by, 'deal.move', 'stage_changes',
                    to_jsonb(id), to_jsonb(sc), changed_at
             FROM stage_changes sc WHERE workspace_id BETWEEN 1 AND $1",
            "INSERT INTO audit_log (workspace_id, change_id, actor_id, action, entity, entity_key, after, created_at)
             SELECT workspace_id, nextval('audit_change_ids'), member_id, 'contact.log', 'activities',
                    to_jsonb(id), to_jsonb(a), happened_at
             FROM activities a WHERE workspace_id BETWEEN 1 AND $1",
            "INSERT INTO processed_interactions (workspace_id, interaction_id, processed_at)
             SELECT 1 + g % $1, g, now() - (g % 86400) * interval '1 second'
             FROM generate_series(1, $2) g",
        ] {
            let q = sqlx::query(sql).bind(workspaces);
            let q = if sql.contains("$2") { q.bind(markers) } else { q };
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        sqlx::query("VACUUM ANALYZE audit_log, processed_interactions")
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Row counts of the big tables, for the report.
    pub async fn bulk_counts(&self) -> StoreResult<(i64, i64, i64, i64)> {
        Ok(sqlx::query_as(
            "SELECT (SELECT count(*) FROM workspaces), (SELECT count(*) FROM deals),
                    (SELECT count(*) FROM activities), (SELECT count(*) FROM stage_changes)",
        )
        .fetch_one(self.pool())
        .await?)
    }
}

impl Store {
    /// Contact ids of one workspace, for benchmarks that log interactions.
    pub async fn bulk_contact_ids(&self, ws: i64) -> StoreResult<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM contacts WHERE workspace_id = $1 ORDER BY id LIMIT 100",
        )
        .bind(ws)
        .fetch_all(self.pool())
        .await?)
    }
}

impl Store {
    /// Gives every workspace a digest channel and schedule (benchmarks), and forgets earlier
    /// digests so the run enqueues them all again.
    pub async fn bulk_schedule_digests(
        &self,
        channel: i64,
        weekday: i16,
        time: chrono::NaiveTime,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE workspaces SET digest_channel_id = $1, digest_weekday = $2, digest_time = $3, timezone = 'UTC'")
            .bind(channel)
            .bind(weekday)
            .bind(time)
            .execute(self.pool())
            .await?;
        sqlx::query("DELETE FROM outbox WHERE kind = 'digest'")
            .execute(self.pool())
            .await?;
        // Settings the same as the last run's reset nothing: their digests would stay
        // scheduled for next week.
        self.reset_schedules().await?;
        Ok(())
    }

    /// How many digests are waiting, and how many were delivered.
    pub async fn bulk_digest_counts(&self) -> StoreResult<(i64, i64)> {
        Ok(sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'delivered')
             FROM outbox WHERE kind = 'digest'",
        )
        .fetch_one(self.pool())
        .await?)
    }
}
