//! Queries behind the scheduled work: due reminders, agendas and weekly digests.

use super::tasks::TASK_LINKS;
use super::{Store, StoreResult, Tx};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

/// A reminder whose due time has come and has not been sent for that due time.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DueTask {
    /// Workspace.
    pub workspace_id: i64,
    /// Task id.
    pub id: i64,
    /// Who is reminded.
    pub assignee_id: i64,
    /// What to do.
    pub title: String,
    /// When.
    pub due_at: DateTime<Utc>,
    /// Related deal number and title.
    pub deal_number: Option<i64>,
    /// Related deal title.
    pub deal_title: Option<String>,
    /// Related contact.
    pub contact_id: Option<i64>,
    /// Related contact's name.
    pub contact_name: Option<String>,
    /// The assignee's language and zone, the workspace's as fallback.
    pub locale: String,
    /// IANA zone to show times in.
    pub timezone: String,
    /// The assignee does not accept DMs.
    pub dm_closed: bool,
}

/// A member who may get a daily agenda.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AgendaMember {
    /// Workspace.
    pub workspace_id: i64,
    /// Member.
    pub user_id: i64,
    /// Their zone (own, else the workspace's).
    pub timezone: String,
    /// Their language (own, else the workspace's).
    pub locale: String,
    /// Local time of the agenda.
    pub agenda_time: NaiveTime,
    /// Workspace currency.
    pub currency: String,
    /// Workspace stale threshold in days.
    pub stale_days: i32,
    /// The schedule row's generation when read.
    pub generation: i64,
}

/// What a member's agenda lists.
#[derive(Clone, Debug, Default)]
pub struct AgendaData {
    /// Open tasks due before the end of their day.
    pub tasks: Vec<AgendaTask>,
    /// Their open deals idle past the stage's (or workspace's) threshold.
    pub stale: Vec<StaleDeal>,
    /// Their open deals past the expected close.
    pub overdue_close: Vec<OverdueDeal>,
    /// Their contacts with a birthday today.
    pub birthdays: Vec<Birthday>,
    /// Contracts of their companies and contacts ending in 30, 7 or 1 days.
    pub contracts: Vec<ContractEnd>,
}

/// An open task on an agenda.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AgendaTask {
    /// Task id (T-id).
    pub id: i64,
    /// What to do.
    pub title: String,
    /// When it is due.
    pub due_at: DateTime<Utc>,
    /// Already past due when the agenda was made.
    #[sqlx(skip)]
    pub overdue: bool,
    /// How many the whole list holds: the rows read are its first ones.
    pub total: i64,
}

/// An open deal with no activity past its stage's threshold.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StaleDeal {
    /// Deal number (D-n).
    pub number: i64,
    /// Deal title.
    pub title: String,
    /// Name of the stage it sits in.
    pub stage: String,
    /// Whole days since its last activity.
    pub idle_days: i64,
    /// How many the whole list holds: the rows read are its first ones.
    pub total: i64,
}

/// An open deal past its expected close.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OverdueDeal {
    /// Deal number (D-n).
    pub number: i64,
    /// Deal title.
    pub title: String,
    /// The close date it missed.
    pub expected_close: NaiveDate,
    /// How many the whole list holds: the rows read are its first ones.
    pub total: i64,
}

/// A contact whose birthday falls on one of the days an agenda covers.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Birthday {
    /// Contact id (C-id).
    pub id: i64,
    /// Contact name.
    pub name: String,
    /// The day of the birthday.
    pub day: NaiveDate,
    /// How many the whole list holds: the rows read are its first ones.
    pub total: i64,
}

/// A company's or contact's contract that ends soon.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ContractEnd {
    /// Company or contact name.
    pub name: String,
    /// Last day of the contract.
    pub contract_end: NaiveDate,
    /// Days from today: 30, 7 or 1, or up to two more when that notice's day falls before
    /// the next workday.
    pub days_left: i32,
    /// How many the whole list holds: the rows read are its first ones.
    pub total: i64,
}

/// An open deal the digest flags: past its expected close or idle too long.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RiskyDeal {
    /// Deal number (D-n).
    pub number: i64,
    /// Deal title.
    pub title: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// Owner's display name ('' when unknown).
    pub owner: String,
    /// How many deals are at risk in all (not only the rows returned).
    pub total_count: i64,
    /// Their amount in all.
    pub total_amount: i64,
}

/// A manager or admin who gets a digest's named detail by DM when reps see only their own.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DigestReader {
    /// Member.
    pub user_id: i64,
    /// Their language (own, else the workspace's).
    pub locale: String,
}

/// A workspace with a digest channel.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DigestWorkspace {
    /// Workspace.
    pub id: i64,
    /// Zone.
    pub timezone: String,
    /// Language.
    pub locale: String,
    /// Currency.
    pub currency: String,
    /// Channel.
    pub digest_channel_id: i64,
    /// ISO weekday, Monday = 1.
    pub digest_weekday: i16,
    /// Local time.
    pub digest_time: NaiveTime,
    /// Stale threshold.
    pub stale_days: i32,
    /// Who sees what (`all` or `own`): under `own` the channel gets team totals only.
    pub visibility: String,
}

/// A workspace whose digest is due, or not worked out since its settings changed.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DueDigest {
    /// The workspace and its digest settings.
    #[sqlx(flatten)]
    pub workspace: DigestWorkspace,
    /// The schedule row's generation when read.
    pub generation: i64,
}

/// A week's team totals.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WeekFigures {
    /// Deals won.
    pub won_count: i64,
    /// Their amount.
    pub won_amount: i64,
    /// Deals lost.
    pub lost_count: i64,
    /// Deals opened.
    pub new_count: i64,
    /// Their amount: new pipeline.
    pub new_amount: i64,
    /// Interactions logged.
    pub activities: i64,
    /// Average satisfaction of those that have one.
    pub avg_satisfaction: Option<f64>,
}

/// One rep's line on the leaderboard.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct RepLine {
    /// Member.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// Revenue won.
    pub won_amount: i64,
    /// Deals won.
    pub won_count: i64,
    /// Interactions logged.
    pub activities: i64,
}

/// What every list of one member's agenda is asked with.
struct AgendaParams {
    ws: i64,
    user: i64,
    now: DateTime<Utc>,
    day_end: DateTime<Utc>,
    today: NaiveDate,
    stale_days: i32,
    through: NaiveDate,
}

impl Tx {
    /// Claims due reminders not yet sent for their due time (other schedulers skip them).
    pub async fn due_tasks(&mut self, now: DateTime<Utc>, limit: i64) -> StoreResult<Vec<DueTask>> {
        let sql = format!(
            "SELECT t.workspace_id, t.id, t.assignee_id, t.title, t.due_at, d.number AS deal_number, d.title AS deal_title,
                    c.id AS contact_id, c.name AS contact_name,
                    COALESCE(m.locale, w.locale) AS locale, COALESCE(m.timezone, w.timezone) AS timezone,
                    COALESCE(m.dm_closed, false) AS dm_closed
             FROM tasks t
             JOIN workspaces w ON w.id = t.workspace_id
             LEFT JOIN members m ON m.workspace_id = t.workspace_id AND m.user_id = t.assignee_id
             {TASK_LINKS}
             WHERE t.status = 'open' AND t.due_at <= $1 AND t.reminded_due_at IS DISTINCT FROM t.due_at
             ORDER BY t.due_at LIMIT $2
             FOR UPDATE OF t SKIP LOCKED"
        );
        Ok(sqlx::query_as(&sql)
            .bind(now)
            .bind(limit)
            .fetch_all(self.conn())
            .await?)
    }

    /// Notes that the reminder for this due time is on its way.
    pub async fn mark_reminded(
        &mut self,
        ws: i64,
        id: i64,
        due_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE tasks SET reminded_due_at = $3 WHERE workspace_id = $1 AND id = $2")
            .bind(ws)
            .bind(id)
            .bind(due_at)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// What one member's agenda lists for the local `days` it covers (tasks due before
    /// `day_end`, the end of the first).
    pub async fn agenda(
        &mut self,
        ws: i64,
        user: i64,
        now: DateTime<Utc>,
        day_end: DateTime<Utc>,
        days: std::ops::RangeInclusive<NaiveDate>,
        stale_days: i32,
    ) -> StoreResult<AgendaData> {
        // Every list takes the same parameters: `$1` workspace, `$2` the member, `$3` now,
        // `$4` the end of their local day, `$5` their local date, `$6` the stale threshold,
        // `$7` the last day the agenda covers (the day before their next workday: Friday's
        // covers the weekend's birthdays and contract notices, which no agenda is sent on).
        let params = AgendaParams {
            ws,
            user,
            now,
            day_end,
            today: *days.start(),
            stale_days,
            through: *days.end(),
        };
        let mut tasks: Vec<AgendaTask> = self
            .agenda_list(
                // What is still ahead today first, in its order; then what is overdue, the
                // latest first (a month-old backlog must not push today's tasks out).
                "SELECT id, title, due_at, count(*) OVER () AS total FROM tasks
                 WHERE workspace_id = $1 AND assignee_id = $2 AND status = 'open' AND due_at < $4
                 ORDER BY due_at < $3, CASE WHEN due_at >= $3 THEN due_at END, due_at DESC, id
                 LIMIT 25",
                &params,
            )
            .await?;
        let stale = self
            .agenda_list(
                "SELECT d.number, d.title, s.name AS stage,
                        floor(extract(epoch FROM $3 - d.last_activity_at) / 86400)::bigint AS idle_days,
                        count(*) OVER () AS total
                 FROM deals d JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
                 WHERE d.workspace_id = $1 AND d.owner_id = $2 AND d.status = 'open'
                   AND d.last_activity_at < $3 - make_interval(days => COALESCE(s.stale_days, $6))
                 ORDER BY d.last_activity_at LIMIT 10",
                &params,
            )
            .await?;
        let overdue_close = self
            .agenda_list(
                "SELECT number, title, expected_close, count(*) OVER () AS total FROM deals
                 WHERE workspace_id = $1 AND owner_id = $2 AND status = 'open' AND expected_close < $5
                 ORDER BY expected_close LIMIT 10",
                &params,
            )
            .await?;
        let birthdays = self
            .agenda_list(
                // Someone born on Feb 29 has their birthday on Feb 28 when the year has no 29th.
                // Today's and the coming days' are two lists, each with its own first 25 and
                // count, so a crowded today cannot hide the weekend's.
                "SELECT id, name, day, total FROM (
                     SELECT c.id, c.name, g.day::date AS day,
                            count(*) OVER (PARTITION BY g.day::date = $5::date) AS total,
                            row_number() OVER (PARTITION BY g.day::date = $5::date
                                               ORDER BY g.day, c.name) AS n
                     FROM generate_series($5::date, $7::date, interval '1 day') AS g(day)
                     JOIN contacts c ON c.workspace_id = $1 AND c.owner_id = $2
                       AND ((c.birthday_month = extract(month FROM g.day)::smallint
                             AND c.birthday_day = extract(day FROM g.day)::smallint)
                            OR (c.birthday_month = 2 AND c.birthday_day = 29
                                AND to_char(g.day, 'MM-DD') = '02-28'
                                AND to_char(g.day + interval '1 day', 'MM-DD') = '03-01'))) b
                 WHERE n <= 25
                 ORDER BY day, name",
                &params,
            )
            .await?;
        let contracts = self
            .agenda_list(
                "SELECT name, contract_end, (contract_end - $5)::int AS days_left, count(*) OVER () AS total FROM (
                     SELECT name, contract_end FROM companies WHERE workspace_id = $1 AND owner_id = $2
                     UNION ALL
                     SELECT name, contract_end FROM contacts WHERE workspace_id = $1 AND owner_id = $2) x
                 WHERE EXISTS (SELECT 1 FROM unnest(ARRAY[30, 7, 1]) AS k(days) WHERE x.contract_end - k.days BETWEEN $5 AND $7)
                 ORDER BY contract_end, name LIMIT 25",
                &params,
            )
            .await?;
        for t in &mut tasks {
            t.overdue = t.due_at < now;
        }
        Ok(AgendaData {
            tasks,
            stale,
            overdue_close,
            birthdays,
            contracts,
        })
    }

    async fn agenda_list<T>(&mut self, sql: &'static str, p: &AgendaParams) -> StoreResult<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        Ok(sqlx::query_as(sql)
            .bind(p.ws)
            .bind(p.user)
            .bind(p.now)
            .bind(p.day_end)
            .bind(p.today)
            .bind(p.stale_days)
            .bind(p.through)
            .fetch_all(self.conn())
            .await?)
    }

    /// A workspace's team totals over `[from, to)`.
    pub async fn week_figures(
        &mut self,
        ws: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<WeekFigures> {
        let (won_count, won_amount, lost_count, new_count, new_amount): (i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'won' AND closed_at >= $2 AND closed_at < $3),
                    COALESCE(sum(amount_minor) FILTER (WHERE status = 'won' AND closed_at >= $2 AND closed_at < $3), 0)::bigint,
                    count(*) FILTER (WHERE status = 'lost' AND closed_at >= $2 AND closed_at < $3),
                    count(*) FILTER (WHERE created_at >= $2 AND created_at < $3),
                    COALESCE(sum(amount_minor) FILTER (WHERE created_at >= $2 AND created_at < $3), 0)::bigint
             FROM deals
             WHERE workspace_id = $1 AND ((closed_at >= $2 AND closed_at < $3) OR (created_at >= $2 AND created_at < $3))",
        )
        .bind(ws)
        .bind(from)
        .bind(to)
        .fetch_one(self.conn())
        .await?;
        let (activities, avg_satisfaction): (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), avg(satisfaction)::float8 FROM activities
             WHERE workspace_id = $1 AND happened_at >= $2 AND happened_at < $3",
        )
        .bind(ws)
        .bind(from)
        .bind(to)
        .fetch_one(self.conn())
        .await?;
        Ok(WeekFigures {
            won_count,
            won_amount,
            lost_count,
            new_count,
            new_amount,
            activities,
            avg_satisfaction,
        })
    }

    /// The reps' lines over `[from, to)`, best revenue first.
    pub async fn leaderboard(
        &mut self,
        ws: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<RepLine>> {
        Ok(sqlx::query_as(
            "SELECT m.user_id, m.display_name AS name,
                    COALESCE(w.amount, 0)::bigint AS won_amount, COALESCE(w.n, 0)::bigint AS won_count,
                    COALESCE(a.n, 0)::bigint AS activities
             FROM members m
             LEFT JOIN (SELECT owner_id, sum(amount_minor) AS amount, count(*) AS n FROM deals
                        WHERE workspace_id = $1 AND status = 'won' AND closed_at >= $2 AND closed_at < $3
                        GROUP BY owner_id) w ON w.owner_id = m.user_id
             LEFT JOIN (SELECT member_id, count(*) AS n FROM activities
                        WHERE workspace_id = $1 AND happened_at >= $2 AND happened_at < $3
                        GROUP BY member_id) a ON a.member_id = m.user_id
             WHERE m.workspace_id = $1 AND (w.n IS NOT NULL OR a.n IS NOT NULL)
             ORDER BY won_amount DESC, activities DESC, m.display_name LIMIT 10",
        )
        .bind(ws)
        .bind(from)
        .bind(to)
        .fetch_all(self.conn())
        .await?)
    }

    /// The managers and admins who accept DMs: they get the digest's named detail.
    pub async fn digest_readers(&mut self, ws: i64) -> StoreResult<Vec<DigestReader>> {
        Ok(sqlx::query_as(
            "SELECT m.user_id, COALESCE(m.locale, w.locale) AS locale
             FROM members m JOIN workspaces w ON w.id = m.workspace_id
             WHERE m.workspace_id = $1 AND m.role IN ('manager', 'admin') AND NOT m.dm_closed
             ORDER BY m.user_id",
        )
        .bind(ws)
        .fetch_all(self.conn())
        .await?)
    }

    /// The team's monthly quota: the sum of the members' quotas.
    pub async fn team_quota(&mut self, ws: i64) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(sum(quota_minor), 0)::bigint FROM members WHERE workspace_id = $1",
        )
        .bind(ws)
        .fetch_one(self.conn())
        .await?)
    }

    /// Open deals at risk: past their expected close or idle past the threshold, largest first.
    pub async fn at_risk(
        &mut self,
        ws: i64,
        now: DateTime<Utc>,
        today: NaiveDate,
        stale_days: i32,
    ) -> StoreResult<Vec<RiskyDeal>> {
        Ok(sqlx::query_as(
            "SELECT d.number, d.title, d.amount_minor, COALESCE(m.display_name, '') AS owner,
                    count(*) OVER () AS total_count, sum(d.amount_minor) OVER ()::bigint AS total_amount
             FROM deals d
             JOIN stages s ON s.workspace_id = d.workspace_id AND s.id = d.stage_id
             LEFT JOIN members m ON m.workspace_id = d.workspace_id AND m.user_id = d.owner_id
             WHERE d.workspace_id = $1 AND d.status = 'open'
               AND (d.expected_close < $3 OR d.last_activity_at < $2 - make_interval(days => COALESCE(s.stale_days, $4)))
             ORDER BY d.amount_minor DESC, d.number LIMIT 5",
        )
        .bind(ws)
        .bind(now)
        .bind(today)
        .bind(stale_days)
        .fetch_all(self.conn())
        .await?)
    }
}

/// When a member's agenda or a workspace's digest is next due, as the scan worked it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextDue {
    /// The workspace.
    pub workspace_id: i64,
    /// The member (agendas; 0 for a digest).
    pub user_id: i64,
    /// The schedule row's generation the scan read (a reset since makes the update a no-op).
    pub generation: i64,
    /// The next instant it is due.
    pub at: DateTime<Utc>,
}

impl Store {
    /// Up to `limit` members whose agenda is due at `now` or not worked out since their
    /// settings changed (`-infinity`: those first), with the zone and language to use.
    pub async fn due_agendas(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<AgendaMember>> {
        Ok(sqlx::query_as(
            "SELECT m.workspace_id, m.user_id, COALESCE(m.timezone, w.timezone) AS timezone,
                    COALESCE(m.locale, w.locale) AS locale, m.agenda_time, w.currency, w.stale_days,
                    s.generation
             FROM agenda_schedule s
             JOIN members m ON m.workspace_id = s.workspace_id AND m.user_id = s.user_id
             JOIN workspaces w ON w.id = s.workspace_id
             WHERE s.next_at <= $1 AND NOT m.dm_closed
             ORDER BY s.next_at
             LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Up to `limit` workspaces with a digest channel whose digest is due at `now` or not
    /// worked out since their settings changed.
    pub async fn due_digests(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Vec<DueDigest>> {
        Ok(sqlx::query_as(
            "SELECT w.id, w.timezone, w.locale, w.currency, w.digest_channel_id, w.digest_weekday,
                    w.digest_time, w.stale_days, w.visibility, s.generation
             FROM digest_schedule s JOIN workspaces w ON w.id = s.workspace_id
             WHERE s.next_at <= $1 AND w.digest_channel_id IS NOT NULL
             ORDER BY s.next_at
             LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Stores when each agenda is next due, one statement for a page of members; a member
    /// whose settings changed since the scan read them keeps the reset.
    pub async fn set_agendas_next(&self, next: &[NextDue]) -> StoreResult<()> {
        if next.is_empty() {
            return Ok(());
        }
        let (ws, users, generations, at) = next_columns(next);
        sqlx::query(
            "UPDATE agenda_schedule s SET next_at = v.at
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::timestamptz[]) AS v(ws, usr, gen, at)
             WHERE s.workspace_id = v.ws AND s.user_id = v.usr AND s.generation = v.gen",
        )
        .bind(ws)
        .bind(users)
        .bind(generations)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Stores when each digest is next due, as [`Store::set_agendas_next`].
    pub async fn set_digests_next(&self, next: &[NextDue]) -> StoreResult<()> {
        if next.is_empty() {
            return Ok(());
        }
        let (ws, _, generations, at) = next_columns(next);
        sqlx::query(
            "UPDATE digest_schedule s SET next_at = v.at
             FROM UNNEST($1::bigint[], $2::bigint[], $3::timestamptz[]) AS v(ws, gen, at)
             WHERE s.workspace_id = v.ws AND s.generation = v.gen",
        )
        .bind(ws)
        .bind(generations)
        .bind(at)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

impl Store {
    /// Forgets when every agenda and digest is next due, so the next scan works each out
    /// again: for a clock moved back (the console's `:now`, benchmarks), which the stored
    /// times, all after the old `now`, would otherwise hold back.
    pub async fn reset_schedules(&self) -> StoreResult<()> {
        for table in ["agenda_schedule", "digest_schedule"] {
            sqlx::query(&format!(
                "UPDATE {table} SET next_at = '-infinity', generation = nextval('schedule_generations')
                 WHERE next_at <> '-infinity'"
            ))
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }
}

type NextColumns = (Vec<i64>, Vec<i64>, Vec<i64>, Vec<DateTime<Utc>>);

/// The rows as columns for `UNNEST`, in key order, which makes a deadlock with a zone
/// change resetting the same members less likely (the join decides the order rows are
/// locked in); one would cost the page's update, and its members come back on the next tick.
fn next_columns(next: &[NextDue]) -> NextColumns {
    let mut sorted: Vec<&NextDue> = next.iter().collect();
    sorted.sort_by_key(|n| (n.workspace_id, n.user_id));
    let mut cols: NextColumns = Default::default();
    for n in sorted {
        cols.0.push(n.workspace_id);
        cols.1.push(n.user_id);
        cols.2.push(n.generation);
        cols.3.push(n.at);
    }
    cols
}

/// The right to scan for due work, held by one process at a time: a transaction-scoped
/// advisory lock on a connection of its own, so it ends when the scan commits it, or when the
/// process holding it dies and its connection closes.
pub struct ScanLease(Tx);

impl ScanLease {
    /// Lets the next scan (in any process) go.
    pub async fn release(self) -> StoreResult<()> {
        self.0.commit().await
    }
}

impl super::Store {
    /// The scan lease, or `None` while another process holds it.
    pub async fn scan_lease(&self) -> StoreResult<Option<ScanLease>> {
        let mut tx = self.begin().await?;
        let got: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('salesbot.due-scan'))")
                .fetch_one(tx.conn())
                .await?;
        Ok(got.then_some(ScanLease(tx)))
    }
}
