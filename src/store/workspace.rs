//! Workspaces, members and stages.

use super::{StoreResult, Tx};
use chrono::{DateTime, NaiveTime, Utc};
use sqlx::FromRow as _;

/// A workspace's settings.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WorkspaceRow {
    /// Discord guild id.
    pub id: i64,
    /// IANA time zone name.
    pub timezone: String,
    /// ISO currency code every amount is counted in.
    pub currency: String,
    /// Fallback language for messages the bot sends on its own.
    pub locale: String,
    /// Where the weekly digest goes.
    pub digest_channel_id: Option<i64>,
    /// ISO weekday of the digest, Monday = 1.
    pub digest_weekday: i16,
    /// Local time of the digest.
    pub digest_time: NaiveTime,
    /// Days without activity after which an open deal counts as stale.
    pub stale_days: i32,
    /// Discord role whose holders are managers.
    pub manager_role_id: Option<i64>,
    /// `all` or `own`.
    pub visibility: String,
}

/// A member of a workspace.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MemberRow {
    /// Discord user id.
    pub user_id: i64,
    /// Name shown in replies.
    pub display_name: String,
    /// Last role seen.
    pub role: String,
    /// Own IANA time zone, if set.
    pub timezone: Option<String>,
    /// Monthly quota in minor units.
    pub quota_minor: Option<i64>,
    /// Last language seen from them.
    pub locale: Option<String>,
    /// A DM to them was refused (Discord's 50007) since they last used the bot.
    pub dm_closed: bool,
}

/// A pipeline stage.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StageRow {
    /// Row id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Order in the pipeline.
    pub position: i32,
    /// Win probability in percent.
    pub probability: i16,
    /// `open`, `won` or `lost`.
    pub kind: String,
}

const WORKSPACE_COLUMNS: &str =
    "id, timezone, currency, locale, digest_channel_id, digest_weekday, digest_time, \
     stale_days, manager_role_id, visibility";

/// The classic B2B process every new workspace starts with.
const DEFAULT_STAGES: [(&str, i32, i16, &str); 6] = [
    ("Lead", 1, 10, "open"),
    ("Qualified", 2, 25, "open"),
    ("Proposal", 3, 50, "open"),
    ("Negotiation", 4, 75, "open"),
    ("Won", 5, 100, "won"),
    ("Lost", 6, 0, "lost"),
];

/// What every command reads first, in one round trip.
pub struct Prelude {
    pub workspace: WorkspaceRow,
    pub stages: Vec<StageRow>,
    /// The caller's member row, when they are one.
    pub member: Option<MemberRow>,
    /// The event types some live webhook endpoint of the workspace listens to, so that a
    /// write no endpoint wants costs no query at commit.
    pub webhook_events: Vec<String>,
    /// The interaction id was processed before: the request is a repeated delivery.
    pub repeated: bool,
    /// The primary's flushed WAL position when the command started: a report read on the
    /// replica waits for it, so it sees everything committed before it was asked.
    pub wal_position: super::WalPosition,
    /// The deal the command names by number, when it names one and it exists (whoever owns
    /// it: the caller's visibility is not known yet). Read here, its lookup costs no round
    /// trip of its own.
    pub deal: Option<Box<super::DealRow>>,
    /// The contact the command names by id, likewise.
    pub contact: Option<Box<super::ContactRow>>,
    /// The named deal's full card beyond its row, when the command asked for it
    /// ([`Named::detail`]) and the deal exists.
    pub deal_detail: Option<Box<super::DealDetail>>,
}

/// The records a command names by number or id, which its prelude reads along.
#[derive(Clone, Copy, Debug, Default)]
pub struct Named {
    /// A deal's number (`D-42`).
    pub deal: Option<i64>,
    /// A contact's id (`C-12`).
    pub contact: Option<i64>,
    /// With `deal`: also read what its full card shows beyond the row (product lines and
    /// this many latest stage changes, [`Tx::deal_detail`]), so `/deal show D-42` costs one
    /// round trip, not two.
    pub detail: Option<i64>,
}

/// The command prelude's statement ([`Tx::prelude`]). The interaction marker rides in it: one
/// round trip less for every command; a repeated id conflicts, so `marked` is empty and the
/// command is a duplicate. A command that writes a single statement outside a transaction
/// (`Store::prelude_one_write`) has its id only looked for ($6), as that statement writes it.
/// The stages come as one array a column rather than as JSON, and the
/// member as columns (the caller sorts the stages): building JSON was most of what the
/// stages cost the server.
///
/// One text for each combination of records named (no deal, a deal, a deal with its card's
/// detail; a contact or not: indexed `deal as usize * 2 + contact as usize`): a lookup a command does
/// not need is left out of the statement rather than run with a NULL key, since the executor
/// sets up every subquery a statement holds on each run. With pgbench, one client, prepared,
/// the prelude with both lookups and nothing named took 121-156 µs a round trip against 95-141
/// without them, 4-28 µs less in each interleaved pair.
static PRELUDE_SQL: std::sync::LazyLock<[String; 6]> = std::sync::LazyLock::new(|| {
    [
        (DealRead::None, false),
        (DealRead::None, true),
        (DealRead::Row, false),
        (DealRead::Row, true),
        (DealRead::WithDetail, false),
        (DealRead::WithDetail, true),
    ]
    .map(|(deal, contact)| prelude_sql(deal, contact))
});

/// What the prelude reads of the deal a command names; its value is its place in
/// [`PRELUDE_SQL`].
#[derive(Clone, Copy, PartialEq)]
enum DealRead {
    None = 0,
    Row = 1,
    /// The row and its full card's detail; the number of stage changes is `$7`.
    WithDetail = 2,
}

impl DealRead {
    fn of(named: &Named) -> DealRead {
        match (named.deal, named.detail) {
            (None, _) => DealRead::None,
            (Some(_), None) => DealRead::Row,
            (Some(_), Some(_)) => DealRead::WithDetail,
        }
    }
}

fn prelude_sql(deal_read: DealRead, contact: bool) -> String {
    // A named record's row as JSON text, or NULL when the command names none.
    let lookup = |named: bool, select: &str, key: &str| {
        if named {
            format!("(SELECT to_json(named)::text FROM ({select} WHERE {key}) named)")
        } else {
            "NULL::text".to_string()
        }
    };
    let deal = lookup(
        deal_read != DealRead::None,
        super::deals::DEAL_SELECT_ONE,
        "d.workspace_id = $1 AND d.number = $4",
    );
    let contact = lookup(
        contact,
        super::crm::CONTACT_SELECT,
        "c.workspace_id = $1 AND c.id = $5",
    );
    // The card's detail, for the deal by that number (`nd`), when it exists. Its column is
    // not `id`, which names the workspace's.
    let (detail, detail_join) = if deal_read == DealRead::WithDetail {
        (
            format!(
                "{lines} AS deal_lines, {history} AS deal_history",
                lines = super::products::lines_json("$1", "nd.deal_id"),
                history = super::deals::history_json("$1", "nd.deal_id", "$7"),
            ),
            "LEFT JOIN LATERAL (SELECT d.id AS deal_id FROM deals d WHERE d.workspace_id = $1 AND d.number = $4) nd
             ON true",
        )
    } else {
        (
            "NULL::jsonb AS deal_lines, NULL::jsonb AS deal_history".to_string(),
            "",
        )
    };
    format!(
        "WITH marked AS (
             INSERT INTO processed_interactions (workspace_id, interaction_id)
             SELECT $1, $3 WHERE $3::bigint IS NOT NULL AND EXISTS (SELECT 1 FROM workspaces WHERE id = $1)
             ON CONFLICT DO NOTHING RETURNING 1
         )
         SELECT {WORKSPACE_COLUMNS},
                ($3::bigint IS NOT NULL AND NOT EXISTS (SELECT 1 FROM marked))
                OR ($6::bigint IS NOT NULL AND EXISTS (
                        SELECT 1 FROM processed_interactions p
                        WHERE p.workspace_id = $1 AND p.interaction_id = $6)) AS repeated,
                (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint AS wal_position,
                st.*, mem.*,
                ARRAY(SELECT DISTINCT unnest(w.events) FROM webhook_endpoints w
                      WHERE w.workspace_id = workspaces.id AND w.removed_at IS NULL
                        AND w.disabled_at IS NULL) AS webhook_events,
                {deal} AS deal,
                {contact} AS contact,
                {detail}
         FROM workspaces
         CROSS JOIN LATERAL (
             SELECT COALESCE(array_agg(s.id), '{{}}') AS stage_ids,
                    COALESCE(array_agg(s.name), '{{}}') AS stage_names,
                    COALESCE(array_agg(s.position), '{{}}') AS stage_positions,
                    COALESCE(array_agg(s.probability), '{{}}') AS stage_probabilities,
                    COALESCE(array_agg(s.kind), '{{}}') AS stage_kinds
             FROM stages s WHERE s.workspace_id = workspaces.id) st
         LEFT JOIN LATERAL (
             SELECT m.user_id AS member_user_id, m.display_name AS member_display_name,
                    m.role AS member_role, m.timezone AS member_timezone,
                    m.quota_minor AS member_quota_minor, m.locale AS member_locale,
                    m.dm_closed AS member_dm_closed
             FROM members m WHERE m.workspace_id = workspaces.id AND m.user_id = $2) mem ON true
         {detail_join}
         WHERE workspaces.id = $1"
    )
}

/// A record the prelude read as JSON in `column`, if any. JSON reads less than the wire format
/// does (a date before year 1 or past 9999): a row it cannot read is looked up by its own
/// statement, as before. The JSON comes as text and is read straight into the row: `to_json`
/// writes text where `to_jsonb` builds a binary value only to print it for the wire, and
/// reading through a `serde_json::Value` took the bot twice the CPU (on the discord bench,
/// 4.5% of all the bot's CPU against 2.0%).
fn named_row<T: serde::de::DeserializeOwned>(
    row: &sqlx::postgres::PgRow,
    column: &str,
) -> StoreResult<Option<Box<T>>> {
    use sqlx::Row as _;
    let text: Option<&str> = row.try_get(column)?;
    Ok(text.and_then(|v| {
        serde_json::from_str(v)
            .map_err(
                |e| tracing::warn!(error = %e, column, "the prelude's record did not read back"),
            )
            .ok()
    }))
}

impl Tx {
    /// A workspace's settings without creating it (suggestions and reads that must never write use it).
    pub async fn workspace(&mut self, id: i64) -> StoreResult<Option<WorkspaceRow>> {
        self.read_workspace(id, "").await
    }

    /// A workspace's settings, its row locked against a settings change or `/undo` until this
    /// transaction ends (the outbox takes it before the post's row, the order those take them
    /// in); `None` when the row is gone (an `/undo` re-inserting it just committed: read it
    /// again later).
    pub async fn workspace_locked(&mut self, ws: i64) -> StoreResult<Option<WorkspaceRow>> {
        self.read_workspace(ws, " FOR SHARE").await
    }

    async fn read_workspace(&mut self, id: i64, lock: &str) -> StoreResult<Option<WorkspaceRow>> {
        let sql = format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1{lock}");
        Ok(sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.conn())
            .await?)
    }

    /// Everything a command starts from, in one round trip: the workspace's settings, its
    /// stages in order, the caller's member row if there is one, the webhook event types
    /// wanted and the primary's WAL position; and Discord's interaction id, when given, marked
    /// as processed, so that a repeated delivery is not applied twice (`Prelude::repeated`;
    /// the engine gives none for a command that only reads), and the records `named` names
    /// that exist. `None` when the workspace does not exist yet (then nothing is marked: the
    /// caller creates it and asks again).
    pub async fn prelude(
        &mut self,
        ws: i64,
        user: i64,
        interaction: Option<i64>,
        named: Named,
    ) -> StoreResult<Option<Prelude>> {
        // A marker still to be written with the command's write is only looked for.
        let look_for = self.pending_marker();
        let deal_read = DealRead::of(&named);
        // The detail only with a deal to show it for.
        let detail = named.detail.filter(|_| deal_read == DealRead::WithDetail);
        let sql = &PRELUDE_SQL[deal_read as usize * 2 + usize::from(named.contact.is_some())];
        let mut query = sqlx::query(sql)
            .bind(ws)
            .bind(user)
            .bind(interaction)
            .bind(named.deal)
            .bind(named.contact)
            .bind(look_for);
        if let Some(last) = detail {
            query = query.bind(last);
        }
        let Some(row) = query.fetch_optional(self.conn()).await? else {
            return Ok(None);
        };
        use sqlx::Row as _;
        let settings = WorkspaceRow::from_row(&row)?;
        let webhook_events: Vec<String> = row.try_get("webhook_events")?;
        let repeated: bool = row.try_get("repeated")?;
        let wal_position = super::WalPosition(row.try_get("wal_position")?);
        let deal: Option<Box<super::DealRow>> = named_row(&row, "deal")?;
        let contact = named_row(&row, "contact")?;
        let deal_detail = match (&deal, detail) {
            (Some(d), Some(_)) => Some(Box::new(super::DealDetail::from_json(
                d.id,
                row.try_get("deal_lines")?,
                row.try_get("deal_history")?,
            )?)),
            _ => None,
        };
        // One array a column, all five from the same rows in the same order.
        let ids: Vec<i64> = row.try_get("stage_ids")?;
        let names: Vec<String> = row.try_get("stage_names")?;
        let positions: Vec<i32> = row.try_get("stage_positions")?;
        let probabilities: Vec<i16> = row.try_get("stage_probabilities")?;
        let kinds: Vec<String> = row.try_get("stage_kinds")?;
        if [
            names.len(),
            positions.len(),
            probabilities.len(),
            kinds.len(),
        ]
        .iter()
        .any(|&n| n != ids.len())
        {
            return Err(anyhow::anyhow!("unexpected shape in the command prelude's stages").into());
        }
        let mut stages: Vec<StageRow> = ids
            .into_iter()
            .zip(names)
            .zip(positions)
            .zip(probabilities)
            .zip(kinds)
            .map(|((((id, name), position), probability), kind)| StageRow {
                id,
                name,
                position,
                probability,
                kind,
            })
            .collect();
        stages.sort_unstable_by_key(|s| (s.position, s.id));
        let member = match row.try_get::<Option<i64>, _>("member_user_id")? {
            Some(user_id) => Some(MemberRow {
                user_id,
                display_name: row.try_get("member_display_name")?,
                role: row.try_get("member_role")?,
                timezone: row.try_get("member_timezone")?,
                quota_minor: row.try_get("member_quota_minor")?,
                locale: row.try_get("member_locale")?,
                dm_closed: row.try_get("member_dm_closed")?,
            }),
            None => None,
        };
        Ok(Some(Prelude {
            workspace: settings,
            stages,
            member,
            webhook_events,
            repeated,
            wal_position,
            deal,
            contact,
            deal_detail,
        }))
    }

    /// Loads a workspace, creating it with defaults on first use.
    pub async fn ensure_workspace(&mut self, id: i64) -> StoreResult<WorkspaceRow> {
        if let Some(ws) = self.workspace(id).await? {
            return Ok(ws);
        }
        // Its rows go in together, also for a request that only reads.
        self.open().await?;
        let created = sqlx::query("INSERT INTO workspaces (id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(id)
            .execute(self.conn())
            .await?;
        if created.rows_affected() == 1 {
            sqlx::query("INSERT INTO deal_counters (workspace_id) VALUES ($1)")
                .bind(id)
                .execute(self.conn())
                .await?;
            for (name, position, probability, kind) in DEFAULT_STAGES {
                sqlx::query(
                    "INSERT INTO stages (workspace_id, name, position, probability, kind) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(name)
                .bind(position)
                .bind(probability)
                .bind(kind)
                .execute(self.conn())
                .await?;
            }
        }
        // Another transaction may have created it first: ON CONFLICT waited for its commit.
        self.workspace(id).await?.ok_or_else(|| {
            super::StoreError::Unexpected(anyhow::anyhow!(
                "workspace {id} is gone after creating it"
            ))
        })
    }

    /// Creates or refreshes the caller's member row; writes only when something changed.
    pub async fn upsert_member(
        &mut self,
        ws: i64,
        user: i64,
        name: Option<&str>,
        role: &str,
        locale: Option<&str>,
        known: Option<Option<MemberRow>>,
    ) -> StoreResult<MemberRow> {
        let fallback = format!("user {user}");
        // Read first: the common case changes nothing, and an upsert would lock the member row
        // (ON CONFLICT DO UPDATE locks even when its WHERE is false), serializing every command
        // of the same person behind each other.
        let existing = match known {
            Some(row) => row,
            None => self.member(ws, user).await?,
        };
        if let Some(row) = existing {
            let name_same = name.is_none_or(|n| n == row.display_name);
            let locale_same = locale.is_none_or(|l| Some(l) == row.locale.as_deref());
            // Someone who refused a DM and uses the bot again may have opened their DMs since:
            // the next reminder or agenda tries again (and closes it again if still refused),
            // instead of them missing every one for good.
            if name_same && locale_same && row.role == role && !row.dm_closed {
                return Ok(row);
            }
        }
        // With the request's writes, or with nothing if it fails: also for a read.
        self.open().await?;
        // The language is remembered for messages the bot sends on its own (reminders, agendas).
        let row = sqlx::query_as::<_, MemberRow>(
            "INSERT INTO members (workspace_id, user_id, display_name, role, locale) VALUES ($1, $2, COALESCE($3, $4), $5, $6)
             ON CONFLICT (workspace_id, user_id) DO UPDATE
                SET display_name = COALESCE($3, members.display_name), role = $5, locale = COALESCE($6, members.locale),
                    dm_closed = false
             RETURNING user_id, display_name, role, timezone, quota_minor, locale, dm_closed",
        )
        .bind(ws)
        .bind(user)
        .bind(name)
        .bind(&fallback)
        .bind(role)
        .bind(locale)
        .fetch_one(self.conn())
        .await?;
        Ok(row)
    }

    /// Makes sure a member row exists for a server member named in a command (an owner, an
    /// assignee). Returns the row and whether this call created it (the caller audits a creation).
    pub async fn ensure_member(
        &mut self,
        ws: i64,
        user: i64,
        name: &str,
    ) -> StoreResult<(MemberRow, bool)> {
        let created = sqlx::query(
            "INSERT INTO members (workspace_id, user_id, display_name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(ws)
        .bind(user)
        .bind(name)
        .execute(self.conn())
        .await?
        .rows_affected()
            == 1;
        let row = self
            .member(ws, user)
            .await?
            .ok_or_else(|| anyhow::anyhow!("member vanished"))?;
        Ok((row, created))
    }

    /// One member.
    pub async fn member(&mut self, ws: i64, user: i64) -> StoreResult<Option<MemberRow>> {
        Ok(sqlx::query_as::<_, MemberRow>(
            "SELECT user_id, display_name, role, timezone, quota_minor, locale, dm_closed FROM members WHERE workspace_id = $1 AND user_id = $2",
        )
        .bind(ws)
        .bind(user)
        .fetch_optional(self.conn())
        .await?)
    }

    /// All members, by name.
    pub async fn members(&mut self, ws: i64) -> StoreResult<Vec<MemberRow>> {
        Ok(sqlx::query_as::<_, MemberRow>(
            "SELECT user_id, display_name, role, timezone, quota_minor, locale, dm_closed FROM members WHERE workspace_id = $1
             ORDER BY display_name",
        )
        .bind(ws)
        .fetch_all(self.conn())
        .await?)
    }

    /// Sets a member's own time zone.
    pub async fn set_member_timezone(&mut self, ws: i64, user: i64, tz: &str) -> StoreResult<()> {
        sqlx::query("UPDATE members SET timezone = $3 WHERE workspace_id = $1 AND user_id = $2")
            .bind(ws)
            .bind(user)
            .bind(tz)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Sets a member's monthly quota.
    pub async fn set_member_quota(
        &mut self,
        ws: i64,
        user: i64,
        quota_minor: i64,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE members SET quota_minor = $3 WHERE workspace_id = $1 AND user_id = $2")
            .bind(ws)
            .bind(user)
            .bind(quota_minor)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Stores a workspace's settings as given.
    pub async fn save_workspace(&mut self, ws: &WorkspaceRow) -> StoreResult<()> {
        sqlx::query(
            "UPDATE workspaces SET timezone = $2, currency = $3, locale = $4, digest_channel_id = $5,
                digest_weekday = $6, digest_time = $7, stale_days = $8, manager_role_id = $9, visibility = $10
             WHERE id = $1",
        )
        .bind(ws.id)
        .bind(&ws.timezone)
        .bind(&ws.currency)
        .bind(&ws.locale)
        .bind(ws.digest_channel_id)
        .bind(ws.digest_weekday)
        .bind(ws.digest_time)
        .bind(ws.stale_days)
        .bind(ws.manager_role_id)
        .bind(&ws.visibility)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// The workspace's stages in pipeline order.
    pub async fn stages(&mut self, ws: i64) -> StoreResult<Vec<StageRow>> {
        Ok(sqlx::query_as::<_, StageRow>(
            "SELECT id, name, position, probability, kind FROM stages WHERE workspace_id = $1 ORDER BY position, id",
        )
        .bind(ws)
        .fetch_all(self.conn())
        .await?)
    }

    /// Adds a stage.
    pub async fn insert_stage(
        &mut self,
        ws: i64,
        name: &str,
        position: i32,
        probability: i16,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO stages (workspace_id, name, position, probability, kind) VALUES ($1, $2, $3, $4, 'open')
             RETURNING id",
        )
        .bind(ws)
        .bind(name)
        .bind(position)
        .bind(probability)
        .fetch_one(self.conn())
        .await?)
    }

    /// Writes a stage's name, position and probability.
    pub async fn update_stage(&mut self, ws: i64, stage: &StageRow) -> StoreResult<()> {
        sqlx::query("UPDATE stages SET name = $3, position = $4, probability = $5 WHERE workspace_id = $1 AND id = $2")
            .bind(ws)
            .bind(stage.id)
            .bind(&stage.name)
            .bind(stage.position)
            .bind(stage.probability)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Deletes a stage no deal uses.
    pub async fn delete_stage(&mut self, ws: i64, id: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM stages WHERE workspace_id = $1 AND id = $2")
            .bind(ws)
            .bind(id)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// How many deals, open or closed, reference a stage.
    pub async fn stage_usage(&mut self, ws: i64, id: i64) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM deals WHERE workspace_id = $1 AND stage_id = $2)
                  + (SELECT count(*) FROM stage_changes WHERE workspace_id = $1 AND (to_stage_id = $2 OR from_stage_id = $2))",
        )
        .bind(ws)
        .bind(id)
        .fetch_one(self.conn())
        .await?)
    }

    /// Takes the next per-workspace deal number; the row lock serializes concurrent creators.
    pub async fn next_deal_number(&mut self, ws: i64) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "UPDATE deal_counters SET next_number = next_number + 1 WHERE workspace_id = $1 RETURNING next_number - 1",
        )
        .bind(ws)
        .fetch_one(self.conn())
        .await?)
    }

    /// Sets when a member's daily agenda arrives.
    pub async fn set_agenda_time(
        &mut self,
        ws: i64,
        user: i64,
        time: chrono::NaiveTime,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE members SET agenda_time = $3 WHERE workspace_id = $1 AND user_id = $2")
            .bind(ws)
            .bind(user)
            .bind(time)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Sets a stage's own stale threshold.
    pub async fn set_stage_stale_days(
        &mut self,
        ws: i64,
        stage: i64,
        days: i32,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE stages SET stale_days = $3 WHERE workspace_id = $1 AND id = $2")
            .bind(ws)
            .bind(stage)
            .bind(days)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds: a snowflake's top 42 bits
/// count milliseconds from it.
const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

/// The smallest snowflake Discord could give at `t`: every interaction created before `t` has
/// a smaller id, so the markers older than `t` are one range of the primary key in each
/// workspace.
pub(crate) fn snowflake_at(t: DateTime<Utc>) -> i64 {
    (t.timestamp_millis() - DISCORD_EPOCH_MS).max(0) << 22
}

impl super::Store {
    /// Forgets the markers of interactions processed before `before` (`processed_interactions`,
    /// written by [`Tx::prelude`]), at most `batch` rows a statement so that no transaction
    /// holds many row locks or much WAL, and returns how many went. Marker ids are Discord's
    /// interaction ids, which are snowflakes, so each workspace's old markers are one range of
    /// its primary key: no index of their own on the command's hot path. The time they were
    /// processed is checked too, so an id that is no snowflake (the tests' small numbers) is
    /// kept as long as a real one. Markers of a workspace whose row was taken back (the undo
    /// of its creation) are not visited: at most a few rows.
    pub async fn expire_interaction_markers(
        &self,
        before: DateTime<Utc>,
        batch: i64,
    ) -> super::StoreResult<u64> {
        let below = snowflake_at(before);
        self.delete_in_batches(batch, || {
            sqlx::query(
                "DELETE FROM processed_interactions p
                 USING (SELECT o.workspace_id, o.interaction_id
                        FROM workspaces w
                        CROSS JOIN LATERAL (
                            SELECT x.workspace_id, x.interaction_id FROM processed_interactions x
                            WHERE x.workspace_id = w.id AND x.interaction_id < $1 AND x.processed_at < $2
                            LIMIT $3) o
                        LIMIT $3) old
                 WHERE p.workspace_id = old.workspace_id AND p.interaction_id = old.interaction_id",
            )
            .bind(below)
            .bind(before)
            .bind(batch)
        })
        .await
    }

    /// The manifest hash last registered for a scope.
    pub async fn registered_manifest(&self, scope: &str) -> super::StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT manifest_hash FROM command_registrations WHERE scope = $1")
                .bind(scope)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Records a successful registration.
    pub async fn record_registration(&self, scope: &str, hash: &str) -> super::StoreResult<()> {
        sqlx::query(
            "INSERT INTO command_registrations (scope, manifest_hash) VALUES ($1, $2)
             ON CONFLICT (scope) DO UPDATE SET manifest_hash = $2, registered_at = now()",
        )
        .bind(scope)
        .bind(hash)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Notes that a member does not accept direct messages, so reminders and agendas stop
    /// trying until they next use the bot.
    pub async fn mark_dm_closed(&self, ws: i64, user: i64) -> super::StoreResult<()> {
        sqlx::query("UPDATE members SET dm_closed = true WHERE workspace_id = $1 AND user_id = $2")
            .bind(ws)
            .bind(user)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

impl StageRow {
    /// The domain's view of a stored stage; an unknown kind reads as open.
    pub fn into_stage(self) -> crate::domain::stage::Stage {
        use crate::domain::stage::{Stage, StageKind};
        let kind = StageKind::parse(&self.kind).unwrap_or(StageKind::Open);
        Stage {
            id: self.id,
            name: self.name,
            position: self.position,
            probability: self.probability,
            kind,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::snowflake_at;
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_snowflake_bound_is_the_first_id_of_its_millisecond() {
        // Discord's documented example: 175928847299117063 was made at
        // 2016-04-30T11:18:25.796Z (https://discord.com/developers/docs/reference#snowflakes).
        let made = Utc
            .timestamp_millis_opt(1_462_015_105_796)
            .single()
            .expect("time");
        assert_eq!(made.to_rfc3339(), "2016-04-30T11:18:25.796+00:00");
        assert!(snowflake_at(made) <= 175_928_847_299_117_063);
        assert!(snowflake_at(made + chrono::Duration::milliseconds(1)) > 175_928_847_299_117_063);
        assert_eq!(175_928_847_299_117_063 >> 22, snowflake_at(made) >> 22);
        // Before Discord's epoch nothing is older.
        assert_eq!(
            snowflake_at(Utc.timestamp_millis_opt(0).single().expect("time")),
            0
        );
    }
}
