//! What an import reads and writes: what the workspace already holds (to match against), rows
//! written a batch at a time (`UNNEST` of column arrays, one statement per table), the source
//! systems' ids, and the import record with every record's image before and a hash of it after, which
//! `undo_import` reads to take an import back.

use super::{StoreResult, Tx};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

/// How long a running import may go without finishing a batch before it counts as stopped.
const STALE_IMPORT: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// The tables an import writes records into. Each name is a compile-time constant, so the
/// statements spliced with it are never built from input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImportEntity {
    Product,
    Company,
    Contact,
    Deal,
    Activity,
}

impl ImportEntity {
    /// The table, which is also the name `external_ids` and `import_rows` use.
    pub fn table(self) -> &'static str {
        match self {
            ImportEntity::Product => "products",
            ImportEntity::Company => "companies",
            ImportEntity::Contact => "contacts",
            ImportEntity::Deal => "deals",
            ImportEntity::Activity => "activities",
        }
    }

    /// The entity a table name (as `external_ids` keeps it) stands for.
    pub fn from_table(table: &str) -> Option<ImportEntity> {
        Self::ALL.into_iter().find(|e| e.table() == table)
    }

    /// Children first: the order records can be deleted in.
    const ALL: [ImportEntity; 5] = [
        ImportEntity::Activity,
        ImportEntity::Deal,
        ImportEntity::Contact,
        ImportEntity::Company,
        ImportEntity::Product,
    ];
}

/// A table whose rows an import's new rows name by `(workspace_id, id)`, a foreign key
/// [`Tx::check_parents`] checks for a whole statement. Each name is a constant.
#[derive(Clone, Copy, Debug)]
enum Parent {
    Companies,
    Contacts,
    Stages,
    Deals,
    Products,
}

impl Parent {
    fn table(self) -> &'static str {
        match self {
            Parent::Companies => "companies",
            Parent::Contacts => "contacts",
            Parent::Stages => "stages",
            Parent::Deals => "deals",
            Parent::Products => "products",
        }
    }
}

/// The ids of one parent table that rows name, each once, without the rows that name none.
fn named(ids: impl IntoIterator<Item = Option<i64>>) -> Vec<i64> {
    let mut v: Vec<i64> = ids.into_iter().flatten().collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// [`named`] for a column every row fills.
fn named_all(ids: &[i64]) -> Vec<i64> {
    named(ids.iter().map(|&id| Some(id)))
}

/// What the next INSERT may write with the row-by-row foreign-key checks put aside.
#[derive(Clone, Copy)]
enum Triggers {
    /// The table has no triggers of its own.
    None,
    /// Its triggers are all ones bulk mode (`salesbot.bulk`, [`Tx::defer_rollups`]) puts
    /// aside: the checks are put aside only while it is on, as `replica` skips every trigger.
    BulkOnly,
}

/// A company as matching needs it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct KnownCompany {
    pub id: i64,
    pub name: String,
    pub owner_id: i64,
    pub industry: Option<String>,
    pub website: Option<String>,
    pub tags: Vec<String>,
    pub tier: Option<String>,
    pub contract_end: Option<NaiveDate>,
}

/// A contact as matching needs it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct KnownContact {
    pub id: i64,
    pub name: String,
    pub company_id: Option<i64>,
    pub owner_id: i64,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub tags: Vec<String>,
    pub title: Option<String>,
    pub birthday_year: Option<i32>,
    pub birthday_month: Option<i16>,
    pub birthday_day: Option<i16>,
    pub contract_end: Option<NaiveDate>,
}

/// What a batch of import rows could match, as the keys the importer matches by.
#[derive(Debug, Default)]
pub struct MatchKeys {
    /// The source's ids, with the table of each (`ImportEntity::table`).
    pub ext_entities: Vec<&'static str>,
    pub ext_ids: Vec<String>,
    /// Name keys (lower case, whitespace runs one space).
    pub company_names: Vec<String>,
    /// Domain keys (hosts without `www.`).
    pub domains: Vec<String>,
    /// Email keys (trimmed, lower case).
    pub emails: Vec<String>,
    /// Name keys.
    pub contact_names: Vec<String>,
    /// Deal numbers (salesbot's own export numbers its deals and names an activity's deal so).
    pub deal_numbers: Vec<i64>,
    /// Activity ids of this workspace's own export.
    pub activity_ids: Vec<i64>,
}

/// The records a batch's keys found: `(entity, the source's id, record id)`, companies and
/// contacts, each in id order.
#[derive(Debug, Default)]
pub struct Matches {
    pub ext: Vec<(ImportEntity, String, i64)>,
    pub companies: Vec<KnownCompany>,
    pub contacts: Vec<KnownContact>,
    /// `(number, id)` of the deals numbered.
    pub deals: Vec<(i64, i64)>,
    /// The activity ids asked for that this workspace has.
    pub activities: Vec<i64>,
}

/// A deal whose last activity an imported activity moved, as it was before.
#[derive(Debug, sqlx::FromRow)]
pub struct BumpedDeal {
    pub id: i64,
    /// The transaction that wrote it last, as text (`xid`).
    pub xmin: String,
    /// The whole row, as [`Tx::images`] takes it.
    pub image: Value,
}

/// A deal as an update needs it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct KnownDeal {
    pub id: i64,
    pub number: i64,
    pub title: String,
    pub company_id: Option<i64>,
    pub contact_id: Option<i64>,
    pub owner_id: i64,
    pub amount_minor: i64,
    pub stage_id: i64,
    pub status: String,
    pub expected_close: Option<NaiveDate>,
    pub lost_reason: Option<String>,
    pub furthest_position: i32,
    pub lines: i64,
    /// Its last stage change (its creation when it has none): a move the file makes must
    /// come after it, or the history would run backwards.
    pub last_change_at: DateTime<Utc>,
}

/// Column arrays of new companies.
#[derive(Debug, Default)]
pub struct CompanyColumns {
    pub name: Vec<String>,
    pub owner: Vec<i64>,
    pub industry: Vec<Option<String>>,
    pub website: Vec<Option<String>>,
    pub tags: Vec<String>,
    pub created_at: Vec<DateTime<Utc>>,
    pub tier: Vec<Option<String>>,
    pub contract_end: Vec<Option<NaiveDate>>,
}

/// Column arrays of new contacts.
#[derive(Debug, Default)]
pub struct ContactColumns {
    pub name: Vec<String>,
    pub company: Vec<Option<i64>>,
    pub owner: Vec<i64>,
    pub email: Vec<Option<String>>,
    pub phone: Vec<Option<String>>,
    pub tags: Vec<String>,
    pub created_at: Vec<DateTime<Utc>>,
    pub title: Vec<Option<String>>,
    pub birthday_year: Vec<Option<i32>>,
    pub birthday_month: Vec<Option<i16>>,
    pub birthday_day: Vec<Option<i16>>,
    pub contract_end: Vec<Option<NaiveDate>>,
}

/// Column arrays of new deals; `status` is `open`, `won` or `lost`.
#[derive(Debug, Default)]
pub struct DealColumns {
    pub title: Vec<String>,
    pub company: Vec<Option<i64>>,
    pub contact: Vec<Option<i64>>,
    pub owner: Vec<i64>,
    pub amount: Vec<i64>,
    pub stage: Vec<i64>,
    pub status: Vec<String>,
    pub expected_close: Vec<Option<NaiveDate>>,
    pub closed_at: Vec<Option<DateTime<Utc>>>,
    pub lost_reason: Vec<Option<String>>,
    pub furthest: Vec<i32>,
    pub created_at: Vec<DateTime<Utc>>,
}

/// Column arrays of stage changes (the history imported deals come with).
#[derive(Debug, Default)]
pub struct ChangeColumns {
    pub deal: Vec<i64>,
    pub from: Vec<Option<i64>>,
    pub to: Vec<i64>,
    pub by: Vec<i64>,
    pub at: Vec<DateTime<Utc>>,
    /// The stay the change ends (the stage its predecessor entered, and when), written with
    /// the row; `None` on a deal's first change.
    pub ended_stage: Vec<Option<i64>>,
    pub ended_entered: Vec<Option<DateTime<Utc>>>,
}

/// Column arrays of matched companies' changes; `None` keeps what is there.
#[derive(Debug, Default)]
pub struct CompanyUpdates {
    pub id: Vec<i64>,
    pub industry: Vec<Option<String>>,
    pub website: Vec<Option<String>>,
    /// Comma-joined, as [`CompanyColumns::tags`].
    pub tags: Vec<Option<String>>,
    pub tier: Vec<Option<String>>,
    pub contract_end: Vec<Option<NaiveDate>>,
}

/// Column arrays of matched contacts' changes; `None` keeps what is there.
#[derive(Debug, Default)]
pub struct ContactUpdates {
    pub id: Vec<i64>,
    pub phone: Vec<Option<String>>,
    pub company: Vec<Option<i64>>,
    /// Comma-joined, as [`ContactColumns::tags`].
    pub tags: Vec<Option<String>>,
    pub title: Vec<Option<String>>,
    /// A birthday is changed whole: a month given replaces the year too (`None` for one
    /// without a year).
    pub birthday_year: Vec<Option<i32>>,
    pub birthday_month: Vec<Option<i16>>,
    pub birthday_day: Vec<Option<i16>>,
    pub contract_end: Vec<Option<NaiveDate>>,
}

/// Column arrays of matched deals' plain changes; `None` keeps what is there.
#[derive(Debug, Default)]
pub struct DealUpdates {
    pub id: Vec<i64>,
    pub title: Vec<Option<String>>,
    pub amount: Vec<Option<i64>>,
    pub expected_close: Vec<Option<NaiveDate>>,
    pub owner: Vec<Option<i64>>,
}

/// Column arrays of matched deals' stage moves: the stage, status, furthest position, close
/// time and lost reason each ends with, and when it moved.
#[derive(Debug, Default)]
pub struct DealMoves {
    pub id: Vec<i64>,
    pub stage: Vec<i64>,
    pub status: Vec<String>,
    pub furthest: Vec<i32>,
    pub closed_at: Vec<Option<DateTime<Utc>>>,
    pub lost_reason: Vec<Option<String>>,
    pub at: Vec<DateTime<Utc>>,
}

/// Column arrays of deal lines.
#[derive(Debug, Default)]
pub struct LineColumns {
    pub deal: Vec<i64>,
    pub product: Vec<i64>,
    pub quantity: Vec<i32>,
    pub unit_price: Vec<i64>,
    pub list_price: Vec<i64>,
}

/// Column arrays of activities.
#[derive(Debug, Default)]
pub struct ActivityColumns {
    pub contact: Vec<i64>,
    pub deal: Vec<Option<i64>>,
    pub member: Vec<i64>,
    pub kind: Vec<String>,
    pub summary: Vec<String>,
    pub satisfaction: Vec<Option<i16>>,
    pub happened_at: Vec<DateTime<Utc>>,
}

/// One recorded import.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ImportRow {
    pub id: i64,
    pub actor_id: i64,
    pub files: Vec<String>,
    pub status: String,
    pub created: i64,
    pub updated: i64,
    pub matched: i64,
    pub refused: i64,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub undone_at: Option<DateTime<Utc>>,
}

/// A record an undo left where it was, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeftRecord {
    pub entity: ImportEntity,
    pub id: i64,
    /// A name to show: the title, name or email.
    pub label: String,
    /// True when it was changed since; false when it is still there because something added
    /// since refers to it.
    pub changed: bool,
}

/// What taking an import back did.
#[derive(Clone, Debug, Default)]
pub struct UndoReport {
    /// Records the import created that are gone again.
    pub removed: i64,
    /// Records the import changed that have their earlier values again.
    pub restored: i64,
    pub left: Vec<LeftRecord>,
}

/// Why an undo did nothing.
#[derive(Debug, thiserror::Error)]
pub enum UndoRefusal {
    #[error("no import {0} in this workspace")]
    Unknown(i64),
    #[error("import {0} was already taken back")]
    AlreadyUndone(i64),
    #[error("import {0} is still running")]
    Running(i64),
}

/// New deals' numbers and ids, taken before they are written.
#[derive(Debug, Clone, Default)]
pub struct DealSlots {
    /// The first of the numbers, which run on from it.
    pub first_number: i64,
    /// Ids from the table's own sequence, in the order the deals are written.
    pub ids: Vec<i64>,
}

/// How far past the counter a dry run numbers its deals: no workspace numbers a trillion deals.
const DRY_RUN_NUMBERS: i64 = 1_000_000_000_000;

/// The numbers of one dry run's lane past [`DRY_RUN_NUMBERS`]: a connection numbers in the
/// lane of its server process id, which no other live connection has, so two previews running
/// at once never share one (sharing one, the second would wait on the number index for the
/// first to roll back). Linux's largest pid, 2^22, keeps the last lane under 2^53, a number
/// JSON readers still hold exactly.
const DRY_RUN_LANE: i64 = 1_000_000_000;

impl super::Store {
    /// Takes `n` deal numbers and ids in a transaction of their own, so that the counter's
    /// row is not held while a batch of an import writes (another batch, or a rep's
    /// `/deal new`, would queue behind it). Numbers a batch took and did not commit are
    /// skipped, as a sequence skips them. With the ids known, the batch's deals can go in
    /// with its later writes, while the next batch's records go in on another connection.
    ///
    /// Its commit does not wait for the disk (`synchronous_commit` off for this transaction
    /// only): the batch that numbers its deals from it commits after it, waiting for the disk
    /// as every commit does, and that flush takes the reservation's record, which comes
    /// earlier in the log, with it. A crash before then loses the reservation together with
    /// everything that used it. Waiting here was waiting for the megabytes the other batch in
    /// flight had written to reach the disk, on the path of the batch being written: about
    /// 4 ms a batch on the 100,000-deal benchmark.
    pub async fn reserve_deals(&self, ws: i64, n: i64) -> StoreResult<DealSlots> {
        let (first_number, ids) = sqlx::query_as(
            "WITH c AS (
                 INSERT INTO deal_counters AS c (workspace_id, next_number) VALUES ($1, $2 + 1)
                 ON CONFLICT (workspace_id) DO UPDATE SET next_number = c.next_number + $2
                 RETURNING next_number - $2 AS first),
             quick AS (SELECT set_config('synchronous_commit', 'off', true))
             SELECT c.first, ARRAY(SELECT nextval('deals_id_seq') FROM generate_series(1, $2))
             FROM c, quick",
        )
        .bind(ws)
        .bind(n)
        .fetch_one(self.pool())
        .await?;
        Ok(DealSlots { first_number, ids })
    }

    /// Refreshes the planner's statistics of the tables an import writes. A table that grew
    /// from a handful of rows to many thousands inside one import keeps plans made for the
    /// handful (foreign-key checks, keyset pages) until its statistics move; autovacuum gets
    /// there in its own time. Best effort: a database user who may not analyze just waits for
    /// autovacuum.
    ///
    /// While an import runs (`all` false), only the tables whose plans it depends on: those
    /// its rows' foreign keys point at and those it reads back (deals to update, the
    /// history the rollups are added from), whole. The tables it only appends to (lines,
    /// activities, its own record) wait for the end, when every table is sampled on two
    /// connections at once, each with about half of the work, so that the import's answer
    /// waits for about half as long.
    ///
    /// At the end, each table's columns are named: PostgreSQL then leaves out the statistics
    /// of index expressions (the trigram and match-key indexes' `lower(name)`,
    /// `import_domain(website)` ..., which it computes by running the expression over every
    /// sampled row) and keeps the table's count of changes since its last full analyze, so
    /// that autovacuum still takes those soon after; until then they are the sample taken
    /// while the import ran. Measured on the tables of the 100,000-deal benchmark (three
    /// workspaces' worth): companies 330 ms whole against 48 ms by columns, contacts 210
    /// against 79, deals 180 against 138.
    pub async fn analyze_import_tables(&self, all: bool) {
        let run = |sql: String| async move {
            if let Err(e) = sqlx::query(&sql).execute(self.pool()).await {
                tracing::warn!(error = %e, "could not refresh statistics after an import batch");
            }
        };
        if !all {
            run("ANALYZE companies, contacts, deals, stage_changes, products".to_string()).await;
            return;
        }
        // Two statements of about the same cost, by the measurements above.
        let halves: [&[&str]; 2] = [
            &[
                "deals",
                "companies",
                "products",
                "deal_products",
                "import_rows",
            ],
            &[
                "contacts",
                "stage_changes",
                "external_ids",
                "activities",
                "import_created",
            ],
        ];
        let tables: Vec<&str> = halves.concat();
        let columns: Vec<(String, String)> = match sqlx::query_as(
            "SELECT t, string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
             FROM unnest($1::text[]) t
             JOIN pg_attribute a ON a.attrelid = to_regclass(t) AND a.attnum > 0 AND NOT a.attisdropped
             GROUP BY t",
        )
        .bind(&tables)
        .fetch_all(self.pool())
        .await
        {
            Ok(columns) => columns,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the columns to analyze after an import");
                return;
            }
        };
        let statement = |half: &[&str]| {
            let listed: Vec<String> = half
                .iter()
                .filter_map(|t| {
                    let (_, cols) = columns.iter().find(|(name, _)| name == t)?;
                    Some(format!("{t} ({cols})"))
                })
                .collect();
            format!("ANALYZE {}", listed.join(", "))
        };
        tokio::join!(run(statement(halves[0])), run(statement(halves[1])));
    }
}

impl Tx {
    /// Starts an import record.
    pub async fn begin_import(
        &mut self,
        ws: i64,
        actor: i64,
        files: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO imports (workspace_id, actor_id, files, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, now())
             RETURNING id",
        )
        .bind(ws)
        .bind(actor)
        .bind(files)
        .bind(now)
        .fetch_one(self.conn())
        .await?)
    }

    /// Adds one batch's counts to the record and moves its heartbeat (the database's clock,
    /// which every process running imports shares).
    pub async fn count_import(
        &mut self,
        ws: i64,
        id: i64,
        [created, updated, matched, refused]: [i64; 4],
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE imports SET created = created + $3, updated = updated + $4, matched = matched + $5,
                                refused = refused + $6, heartbeat_at = now()
             WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws)
        .bind(id)
        .bind(created)
        .bind(updated)
        .bind(matched)
        .bind(refused)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Marks the import whole.
    pub async fn finish_import(&mut self, ws: i64, id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE imports SET status = 'done', finished_at = $3 WHERE workspace_id = $1 AND id = $2")
            .bind(ws)
            .bind(id)
            .bind(now)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// The workspace's imports, newest first.
    pub async fn imports(&mut self, ws: i64, limit: i64) -> StoreResult<Vec<ImportRow>> {
        Ok(sqlx::query_as(
            "SELECT id, actor_id, files, status, created, updated, matched, refused, started_at, heartbeat_at, finished_at,
                    undone_at
             FROM imports WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(ws)
        .bind(limit)
        .fetch_all(self.conn())
        .await?)
    }

    /// The entities one source already has ids of in the workspace (from earlier imports):
    /// where it has none, a record this import has not met yet cannot match by its id.
    pub async fn external_id_entities(
        &mut self,
        ws: i64,
        source: &str,
    ) -> StoreResult<Vec<ImportEntity>> {
        let tables: Vec<&str> = ImportEntity::ALL.iter().map(|e| e.table()).collect();
        let found: Vec<String> = sqlx::query_scalar(
            "SELECT e FROM unnest($3::text[]) e
             WHERE EXISTS (SELECT 1 FROM external_ids
                           WHERE workspace_id = $1 AND source = $2 AND entity = e)",
        )
        .bind(ws)
        .bind(source)
        .bind(&tables)
        .fetch_all(self.conn())
        .await?;
        Ok(found
            .iter()
            .filter_map(|t| ImportEntity::from_table(t))
            .collect())
    }

    /// What a batch of rows could match: the records the source's ids name, the companies
    /// whose domain or name key, and the contacts whose email or name key, is one of the
    /// batch's. The database keeps the same keys in indexes (the migration
    /// `import_match_keys`), so each key is one index probe.
    pub async fn import_matches(
        &mut self,
        ws: i64,
        source: &str,
        keys: &MatchKeys,
    ) -> StoreResult<Matches> {
        let mut m = Matches::default();
        if !keys.ext_ids.is_empty() {
            let found: Vec<(String, String, i64)> = sqlx::query_as(
                // A probe per key, kept apart as below: a plain join was planned as a hash
                // join over every id of the workspace (97 ms a batch of 2,000 at 100,000
                // ids against 17).
                "SELECT k.entity, k.external_id, m.record_id
                 FROM unnest($3::text[], $4::text[]) AS k (entity, external_id)
                 CROSS JOIN LATERAL (
                     SELECT x.record_id FROM external_ids x
                     WHERE x.workspace_id = $1 AND x.source = $2
                       AND x.entity = k.entity AND x.external_id = k.external_id
                     OFFSET 0) m",
            )
            .bind(ws)
            .bind(source)
            .bind(&keys.ext_entities)
            .bind(&keys.ext_ids)
            .fetch_all(self.conn())
            .await?;
            m.ext = found
                .into_iter()
                .filter_map(|(t, ext, id)| Some((ImportEntity::from_table(&t)?, ext, id)))
                .collect();
        }
        let record = |entity: ImportEntity| -> Vec<i64> {
            m.ext
                .iter()
                .filter(|(e, _, _)| *e == entity)
                .map(|(_, _, id)| *id)
                .collect()
        };
        let (company_ids, contact_ids) =
            (record(ImportEntity::Company), record(ImportEntity::Contact));
        if !(company_ids.is_empty() && keys.company_names.is_empty() && keys.domains.is_empty()) {
            // Each key is one index probe: a join, not `= ANY` of a list (which checks every
            // row found against the whole list again), and a lateral subquery that `OFFSET 0`
            // keeps apart, as a plain join was planned as a hash join over every row of the
            // workspace: the planner costs the match keys' regular expressions as nearly free
            // (22 ms a batch of 200 names at 10,000 companies against 2 ms; 130 ms against
            // 10-20 for 1,000 contacts at 50,000). The rows come out of the probes themselves
            // rather than by id afterwards, which was planned as the same hash join.
            m.companies = sqlx::query_as(
                "SELECT DISTINCT ON (c.id) c.id, c.name, c.owner_id, c.industry, c.website, c.tags,
                        c.tier, c.contract_end
                 FROM (SELECT * FROM companies WHERE workspace_id = $1 AND id = ANY($2)
                       UNION ALL
                       SELECT m.* FROM unnest($3::text[]) k (name) CROSS JOIN LATERAL (
                           SELECT * FROM companies c
                           WHERE c.workspace_id = $1 AND import_name_key(c.name) = k.name
                           OFFSET 0) m
                       UNION ALL
                       SELECT m.* FROM unnest($4::text[]) k (domain) CROSS JOIN LATERAL (
                           SELECT * FROM companies c
                           WHERE c.workspace_id = $1 AND c.website IS NOT NULL
                             AND import_domain(c.website) = k.domain
                           OFFSET 0) m) c
                 ORDER BY c.id",
            )
            .bind(ws)
            .bind(&company_ids)
            .bind(&keys.company_names)
            .bind(&keys.domains)
            .fetch_all(self.conn())
            .await?;
        }
        if !(contact_ids.is_empty() && keys.emails.is_empty() && keys.contact_names.is_empty()) {
            m.contacts = sqlx::query_as(
                "SELECT DISTINCT ON (c.id) c.id, c.name, c.company_id, c.owner_id, c.email, c.phone,
                        c.tags, c.title, c.birthday_year, c.birthday_month, c.birthday_day,
                        c.contract_end
                 FROM (SELECT * FROM contacts WHERE workspace_id = $1 AND id = ANY($2)
                       UNION ALL
                       SELECT m.* FROM unnest($3::text[]) k (email) CROSS JOIN LATERAL (
                           SELECT * FROM contacts c
                           WHERE c.workspace_id = $1 AND c.email IS NOT NULL
                             AND lower(c.email) = k.email
                           OFFSET 0) m
                       UNION ALL
                       SELECT m.* FROM unnest($4::text[]) k (name) CROSS JOIN LATERAL (
                           SELECT * FROM contacts c
                           WHERE c.workspace_id = $1 AND import_name_key(c.name) = k.name
                           OFFSET 0) m) c
                 ORDER BY c.id",
            )
            .bind(ws)
            .bind(&contact_ids)
            .bind(&keys.emails)
            .bind(&keys.contact_names)
            .fetch_all(self.conn())
            .await?;
        }
        if !keys.deal_numbers.is_empty() {
            m.deals = sqlx::query_as(
                "SELECT number, id FROM deals WHERE workspace_id = $1 AND number = ANY($2)",
            )
            .bind(ws)
            .bind(&keys.deal_numbers)
            .fetch_all(self.conn())
            .await?;
        }
        if !keys.activity_ids.is_empty() {
            m.activities = sqlx::query_scalar(
                "SELECT id FROM activities WHERE workspace_id = $1 AND id = ANY($2)",
            )
            .bind(ws)
            .bind(&keys.activity_ids)
            .fetch_all(self.conn())
            .await?;
        }
        Ok(m)
    }

    /// The deals an import matched, with what an update compares.
    pub async fn known_deals(&mut self, ws: i64, ids: &[i64]) -> StoreResult<Vec<KnownDeal>> {
        Ok(sqlx::query_as(
            "SELECT d.id, d.number, d.title, d.company_id, d.contact_id, d.owner_id, d.amount_minor, d.stage_id,
                    d.status, d.expected_close, d.lost_reason, d.furthest_position,
                    (SELECT count(*) FROM deal_products l WHERE l.workspace_id = d.workspace_id AND l.deal_id = d.id) AS lines,
                    greatest(d.created_at,
                             (SELECT max(sc.changed_at) FROM stage_changes sc
                              WHERE sc.workspace_id = d.workspace_id AND sc.deal_id = d.id)) AS last_change_at
             FROM deals d WHERE d.workspace_id = $1 AND d.id = ANY($2)",
        )
        .bind(ws)
        .bind(ids)
        .fetch_all(self.conn())
        .await?)
    }

    /// Inserts companies; their ids in the order given.
    pub async fn insert_companies(&mut self, ws: i64, c: &CompanyColumns) -> StoreResult<Vec<i64>> {
        if c.name.is_empty() {
            return Ok(Vec::new());
        }
        let aside = self.check_parents(ws, true, &[], Triggers::None).await?;
        // Tags travel as one comma-joined string per row: Postgres arrays cannot be ragged.
        let ids = sqlx::query_scalar(
            "INSERT INTO companies (workspace_id, name, owner_id, industry, website, tags, created_at, tier, contract_end)
             SELECT $1, n, o, i, w, CASE WHEN t = '' THEN '{}'::text[] ELSE string_to_array(t, ',') END, c, ti, ce
             FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[], $9::date[])
                  WITH ORDINALITY AS u(n, o, i, w, t, c, ti, ce, k)
             ORDER BY k
             RETURNING id",
        )
        .bind(ws)
        .bind(&c.name)
        .bind(&c.owner)
        .bind(&c.industry)
        .bind(&c.website)
        .bind(&c.tags)
        .bind(&c.created_at)
        .bind(&c.tier)
        .bind(&c.contract_end)
        .fetch_all(self.conn())
        .await?;
        self.row_checks_back(aside).await?;
        Ok(ids)
    }

    /// Inserts contacts; their ids in the order given.
    pub async fn insert_contacts(&mut self, ws: i64, c: &ContactColumns) -> StoreResult<Vec<i64>> {
        if c.name.is_empty() {
            return Ok(Vec::new());
        }
        let parents = [(Parent::Companies, named(c.company.iter().copied()))];
        let aside = self
            .check_parents(ws, true, &parents, Triggers::None)
            .await?;
        let ids = sqlx::query_scalar(
            "INSERT INTO contacts (workspace_id, name, company_id, owner_id, email, phone, tags, created_at,
                                   title, birthday_year, birthday_month, birthday_day, contract_end)
             SELECT $1, n, co, o, e, p, CASE WHEN t = '' THEN '{}'::text[] ELSE string_to_array(t, ',') END, c,
                    ti, by, bm, bd, ce
             FROM UNNEST($2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::timestamptz[],
                         $9::text[], $10::int[], $11::smallint[], $12::smallint[], $13::date[])
                  WITH ORDINALITY AS u(n, co, o, e, p, t, c, ti, by, bm, bd, ce, k)
             ORDER BY k
             RETURNING id",
        )
        .bind(ws)
        .bind(&c.name)
        .bind(&c.company)
        .bind(&c.owner)
        .bind(&c.email)
        .bind(&c.phone)
        .bind(&c.tags)
        .bind(&c.created_at)
        .bind(&c.title)
        .bind(&c.birthday_year)
        .bind(&c.birthday_month)
        .bind(&c.birthday_day)
        .bind(&c.contract_end)
        .fetch_all(self.conn())
        .await?;
        self.row_checks_back(aside).await?;
        Ok(ids)
    }

    /// Inserts products; their ids in the order given.
    pub async fn insert_products(
        &mut self,
        ws: i64,
        names: &[String],
        prices: &[i64],
    ) -> StoreResult<Vec<i64>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_scalar(
            "INSERT INTO products (workspace_id, name, list_price_minor)
             SELECT $1, n, p FROM UNNEST($2::text[], $3::bigint[]) WITH ORDINALITY AS u(n, p, k)
             ORDER BY k
             RETURNING id",
        )
        .bind(ws)
        .bind(names)
        .bind(prices)
        .fetch_all(self.conn())
        .await?)
    }

    /// Sets a product's list price.
    pub async fn set_product_price(&mut self, ws: i64, id: i64, price: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE products SET list_price_minor = $3 WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws)
        .bind(id)
        .bind(price)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Numbers and ids for `n` deals of a dry run, which is rolled back: numbers far past the
    /// workspace's counter, read without taking its row. Taking it, as a real batch does
    /// (briefly, in a transaction of its own), would hold every `/deal new` in the workspace
    /// for as long as the preview of a large file runs. They run on from the dry run's own
    /// earlier batches, so its deals never collide with each other or with a real deal, and
    /// in a lane of their own, so another preview's uncommitted deals do not hold them up.
    pub async fn dry_run_deals(&mut self, ws: i64, n: i64) -> StoreResult<DealSlots> {
        let (first_number, ids) = sqlx::query_as(
            "WITH c AS (
                 SELECT COALESCE((SELECT next_number FROM deal_counters WHERE workspace_id = $1), 1) + $3
                        + pg_backend_pid()::bigint * $4 AS base)
             SELECT GREATEST(c.base, COALESCE((SELECT max(number) + 1 FROM deals
                                               WHERE workspace_id = $1 AND number >= c.base), c.base)),
                    ARRAY(SELECT nextval('deals_id_seq') FROM generate_series(1, $2))
             FROM c",
        )
        .bind(ws)
        .bind(n)
        .bind(DRY_RUN_NUMBERS)
        .bind(DRY_RUN_LANE)
        .fetch_one(self.conn())
        .await?;
        Ok(DealSlots { first_number, ids })
    }

    /// Inserts the deals `rows` of `d` (positions in it) with the numbers and ids taken for
    /// them, in the order given.
    pub async fn insert_deals(
        &mut self,
        ws: i64,
        currency: &str,
        slots: &DealSlots,
        d: &DealColumns,
        rows: std::ops::Range<usize>,
    ) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let parents = [
            (
                Parent::Companies,
                named(d.company[rows.clone()].iter().copied()),
            ),
            (
                Parent::Contacts,
                named(d.contact[rows.clone()].iter().copied()),
            ),
            (Parent::Stages, named_all(&d.stage[rows.clone()])),
        ];
        let aside = self
            .check_parents(ws, false, &parents, Triggers::BulkOnly)
            .await?;
        sqlx::query(
            "INSERT INTO deals (id, workspace_id, number, title, company_id, contact_id, owner_id, amount_minor, currency,
                                stage_id, status, expected_close, closed_at, lost_reason, furthest_position,
                                created_at, updated_at, last_activity_at)
             SELECT i, $1, $2 + k - 1, t, co, ct, o, a, $3, s, st, e, cl, lr, f, c, COALESCE(cl, c), COALESCE(cl, c)
             FROM UNNEST($4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::text[],
                         $11::date[], $12::timestamptz[], $13::text[], $14::int[], $15::timestamptz[], $16::bigint[])
                  WITH ORDINALITY AS u(t, co, ct, o, a, s, st, e, cl, lr, f, c, i, k)",
        )
        .bind(ws)
        .bind(slots.first_number + rows.start as i64)
        .bind(currency)
        .bind(&d.title[rows.clone()])
        .bind(&d.company[rows.clone()])
        .bind(&d.contact[rows.clone()])
        .bind(&d.owner[rows.clone()])
        .bind(&d.amount[rows.clone()])
        .bind(&d.stage[rows.clone()])
        .bind(&d.status[rows.clone()])
        .bind(&d.expected_close[rows.clone()])
        .bind(&d.closed_at[rows.clone()])
        .bind(&d.lost_reason[rows.clone()])
        .bind(&d.furthest[rows.clone()])
        .bind(&d.created_at[rows.clone()])
        .bind(&slots.ids[rows])
        .execute(self.conn())
        .await?;
        self.row_checks_back(aside).await
    }

    /// Puts the rollup triggers aside for the rest of the transaction (`on`), or back. While
    /// aside, whoever writes new deals, their history, lines or activities adds their totals
    /// with [`Tx::add_deal_rollups`] / [`Tx::add_activity_rollups`] before committing; stage
    /// changes must then come with the stay each ends.
    pub async fn defer_rollups(&mut self, on: bool) -> StoreResult<()> {
        sqlx::query("SELECT set_config('salesbot.bulk', $1, true)")
            .bind(if on { "on" } else { "off" })
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Checks the foreign keys of the rows the next INSERT writes, in one statement for all of
    /// them: every parent row they name (`parents`, each id once; and the workspace row when
    /// `workspace`) exists in the workspace, and gets the key-share lock PostgreSQL's own
    /// check would take, so none can be deleted or re-keyed before this transaction ends.
    /// Rows this transaction inserted itself need no lock (no one else sees them) and get
    /// none. Then, where the role may set it, the row-by-row checks are put aside for that
    /// INSERT (`session_replication_role = replica`); [`Tx::row_checks_back`] puts them back
    /// right after it. Their cost was a third of an import's writing (migration
    /// `import_row_checks_aside`). Returns whether they were put aside.
    async fn check_parents(
        &mut self,
        ws: i64,
        workspace: bool,
        parents: &[(Parent, Vec<i64>)],
        triggers: Triggers,
    ) -> StoreResult<bool> {
        let parents: Vec<&(Parent, Vec<i64>)> =
            parents.iter().filter(|(_, ids)| !ids.is_empty()).collect();
        let mut ctes = Vec::new();
        let mut checks = Vec::new();
        if workspace {
            ctes.push("w AS (SELECT 1 FROM workspaces WHERE id = $1 FOR KEY SHARE)".to_string());
            checks.push("(SELECT count(*) FROM w) = 1".to_string());
        }
        for (i, (parent, _)) in parents.iter().enumerate() {
            let (t, n) = (parent.table(), i + 2);
            // Each id is a probe of the parent's key; `ANY(ARRAY(..))` keeps the lock's
            // probes so too (a semi-join could be planned as a scan of the workspace's rows).
            ctes.push(format!(
                "f{i} AS (SELECT p.id, p.xmin = pg_current_xact_id()::xid AS ours FROM {t} p
                          WHERE p.workspace_id = $1 AND p.id = ANY(${n}::bigint[])),
                 l{i} AS (SELECT 1 FROM {t} p
                          WHERE p.workspace_id = $1 AND p.id = ANY(ARRAY(SELECT id FROM f{i} WHERE NOT ours))
                          FOR KEY SHARE OF p)"
            ));
            checks.push(format!(
                "(SELECT count(*) FROM f{i}) = cardinality(${n}::bigint[])
                 AND (SELECT count(*) FROM l{i}) = (SELECT count(*) FROM f{i} WHERE NOT ours)"
            ));
        }
        if checks.is_empty() {
            return Ok(false);
        }
        let bulk = match triggers {
            Triggers::None => "",
            Triggers::BulkOnly => {
                " AND current_setting('salesbot.bulk', true) IS NOT DISTINCT FROM 'on'"
            }
        };
        let sql = format!(
            "WITH {ctes},
                  ok AS (SELECT ARRAY[{checks}] AS each)
             SELECT each,
                    CASE WHEN true = ALL(each) AND import_may_put_row_checks_aside(){bulk}
                         THEN set_config('session_replication_role', 'replica', true) END IS NOT NULL
             FROM ok",
            ctes = ctes.join(",\n"),
            checks = checks.join(",\n"),
        );
        let mut q = sqlx::query_as::<_, (Vec<bool>, bool)>(&sql).bind(ws);
        for (_, ids) in &parents {
            q = q.bind(ids);
        }
        let (each, aside) = q.fetch_one(self.conn()).await?;
        // A failed statement as PostgreSQL's own check fails it: the importer then writes the
        // batch again row by row, where only the row that names the record is refused.
        let tables = workspace
            .then_some("workspaces")
            .into_iter()
            .chain(parents.iter().map(|(p, _)| p.table()));
        if let Some((t, _)) = tables.zip(&each).find(|(_, ok)| !**ok) {
            return Err(super::StoreError::Unexpected(anyhow::anyhow!(
                "a row names a record of {t} that is not in the workspace (foreign key check)"
            )));
        }
        Ok(aside)
    }

    /// Puts the row-by-row foreign-key checks back after an INSERT that
    /// [`Tx::check_parents`] put them aside for.
    async fn row_checks_back(&mut self, aside: bool) -> StoreResult<()> {
        if aside {
            sqlx::query("SELECT set_config('session_replication_role', 'origin', true)")
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    /// Adds new deals' totals (with their history and lines) to the rollups in one grouped
    /// statement per table, from the values just written: `d` as inserted, whose ids are
    /// `ids` in order, `c` and `l` their history and lines.
    pub async fn add_deal_rollups(
        &mut self,
        ws: i64,
        ids: &[i64],
        d: &DealColumns,
        c: &ChangeColumns,
        l: &LineColumns,
    ) -> StoreResult<()> {
        sqlx::query(
            "SELECT rollups_add_new_deals($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                                          $14, $15, $16, $17, $18)",
        )
        .bind(ws)
        .bind(ids)
        .bind(&d.owner)
        .bind(&d.stage)
        .bind(&d.status)
        .bind(&d.amount)
        .bind(&d.created_at)
        .bind(&d.closed_at)
        .bind(&d.furthest)
        .bind(&c.deal)
        .bind(&c.at)
        .bind(&c.ended_stage)
        .bind(&c.ended_entered)
        .bind(&l.deal)
        .bind(&l.product)
        .bind(&l.quantity)
        .bind(&l.unit_price)
        .bind(&l.list_price)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Adds new activities' totals to the rollups.
    pub async fn add_activity_rollups(&mut self, ws: i64, ids: &[i64]) -> StoreResult<()> {
        sqlx::query("SELECT rollups_add_activities($1, $2)")
            .bind(ws)
            .bind(ids)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Inserts stage changes.
    pub async fn insert_stage_changes(&mut self, ws: i64, c: &ChangeColumns) -> StoreResult<()> {
        if c.deal.is_empty() {
            return Ok(());
        }
        let stages = c.from.iter().copied().chain(c.to.iter().map(|&t| Some(t)));
        let parents = [
            (Parent::Deals, named_all(&c.deal)),
            (Parent::Stages, named(stages)),
        ];
        let aside = self
            .check_parents(ws, false, &parents, Triggers::BulkOnly)
            .await?;
        sqlx::query(
            "INSERT INTO stage_changes (workspace_id, deal_id, from_stage_id, to_stage_id, changed_by, changed_at,
                                        ended_stage_id, ended_entered_at)
             SELECT $1, d, f, t, b, a, es, ee
             FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::timestamptz[], $7::bigint[],
                         $8::timestamptz[])
                  AS u(d, f, t, b, a, es, ee)",
        )
        .bind(ws)
        .bind(&c.deal)
        .bind(&c.from)
        .bind(&c.to)
        .bind(&c.by)
        .bind(&c.at)
        .bind(&c.ended_stage)
        .bind(&c.ended_entered)
        .execute(self.conn())
        .await?;
        self.row_checks_back(aside).await
    }

    /// Inserts the history rows of deals moved by an import (the history trigger splices
    /// each in: it ends the stay before it, and a dated move into the middle gives the change
    /// after it the stay it now ends); their ids in the order given.
    pub async fn insert_import_moves(
        &mut self,
        ws: i64,
        c: &ChangeColumns,
    ) -> StoreResult<Vec<i64>> {
        if c.deal.is_empty() {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_scalar(
            "INSERT INTO stage_changes (workspace_id, deal_id, from_stage_id, to_stage_id, changed_by, changed_at)
             SELECT $1, d, f, t, b, a
             FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::timestamptz[])
                  WITH ORDINALITY AS u(d, f, t, b, a, k)
             ORDER BY k
             RETURNING id",
        )
        .bind(ws)
        .bind(&c.deal)
        .bind(&c.from)
        .bind(&c.to)
        .bind(&c.by)
        .bind(&c.at)
        .fetch_all(self.conn())
        .await?)
    }

    /// Inserts deal lines.
    pub async fn insert_deal_lines(&mut self, ws: i64, l: &LineColumns) -> StoreResult<()> {
        if l.deal.is_empty() {
            return Ok(());
        }
        let parents = [
            (Parent::Deals, named_all(&l.deal)),
            (Parent::Products, named_all(&l.product)),
        ];
        let aside = self
            .check_parents(ws, false, &parents, Triggers::BulkOnly)
            .await?;
        sqlx::query(
            "INSERT INTO deal_products (workspace_id, deal_id, product_id, quantity, unit_price_minor, list_price_minor)
             SELECT $1, d, p, q, u, l FROM UNNEST($2::bigint[], $3::bigint[], $4::int[], $5::bigint[], $6::bigint[])
                  AS x(d, p, q, u, l)",
        )
        .bind(ws)
        .bind(&l.deal)
        .bind(&l.product)
        .bind(&l.quantity)
        .bind(&l.unit_price)
        .bind(&l.list_price)
        .execute(self.conn())
        .await?;
        self.row_checks_back(aside).await
    }

    /// Inserts activities; their ids in the order given, and the deals whose last activity
    /// moved up to their newest, as logging one by hand does (the others were not written),
    /// each as it was before.
    pub async fn insert_activities(
        &mut self,
        ws: i64,
        a: &ActivityColumns,
    ) -> StoreResult<(Vec<i64>, Vec<BumpedDeal>)> {
        if a.contact.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let parents = [
            (Parent::Contacts, named_all(&a.contact)),
            (Parent::Deals, named(a.deal.iter().copied())),
        ];
        let aside = self
            .check_parents(ws, false, &parents, Triggers::BulkOnly)
            .await?;
        let ids = sqlx::query_scalar(
            "INSERT INTO activities (workspace_id, contact_id, deal_id, member_id, kind, summary, satisfaction, happened_at)
             SELECT $1, c, d, m, k, s, r, h
             FROM UNNEST($2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::smallint[], $8::timestamptz[])
                  WITH ORDINALITY AS u(c, d, m, k, s, r, h, o)
             ORDER BY o
             RETURNING id",
        )
        .bind(ws)
        .bind(&a.contact)
        .bind(&a.deal)
        .bind(&a.member)
        .bind(&a.kind)
        .bind(&a.summary)
        .bind(&a.satisfaction)
        .bind(&a.happened_at)
        .fetch_all(self.conn())
        .await?;
        self.row_checks_back(aside).await?;
        let moved = sqlx::query_as(
            "WITH u AS (SELECT d AS id, max(h) AS h FROM UNNEST($2::bigint[], $3::timestamptz[]) AS x(d, h)
                        WHERE d IS NOT NULL GROUP BY d),
                  old AS (SELECT d.id, d.xmin::text AS xmin, to_jsonb(d) AS image, u.h
                          FROM deals d JOIN u ON d.workspace_id = $1 AND d.id = u.id
                          WHERE d.last_activity_at < u.h
                          FOR UPDATE OF d)
             UPDATE deals d SET last_activity_at = old.h FROM old
             WHERE d.workspace_id = $1 AND d.id = old.id
             RETURNING d.id, old.xmin, old.image",
        )
        .bind(ws)
        .bind(&a.deal)
        .bind(&a.happened_at)
        .fetch_all(self.conn())
        .await?;
        Ok((ids, moved))
    }

    /// Remembers the source's ids of records.
    pub async fn insert_external_ids(
        &mut self,
        ws: i64,
        source: &str,
        entity: ImportEntity,
        external: &[String],
        records: &[i64],
        import: i64,
    ) -> StoreResult<()> {
        if external.is_empty() {
            return Ok(());
        }
        let aside = self.check_parents(ws, true, &[], Triggers::None).await?;
        sqlx::query(
            "INSERT INTO external_ids (workspace_id, source, entity, external_id, record_id, import_id)
             SELECT $1, $2, $3, e, r, $6 FROM UNNEST($4::text[], $5::bigint[]) AS u(e, r)
             ON CONFLICT DO NOTHING",
        )
        .bind(ws)
        .bind(source)
        .bind(entity.table())
        .bind(external)
        .bind(records)
        .bind(import)
        .execute(self.conn())
        .await?;
        self.row_checks_back(aside).await
    }

    /// The current images of records, before an import changes them.
    pub async fn images(
        &mut self,
        ws: i64,
        entity: ImportEntity,
        ids: &[i64],
    ) -> StoreResult<Vec<(i64, Value)>> {
        let sql = format!(
            "SELECT id, to_jsonb(t) FROM {} t WHERE workspace_id = $1 AND id = ANY($2)",
            entity.table()
        );
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(ids)
            .fetch_all(self.conn())
            .await?)
    }

    /// Lists records a batch of an import created, in the transaction that wrote them: that
    /// transaction is what the undo later finds in their xmin if nothing wrote them since.
    /// One row for them all; [`Tx::record_import_rows`] overrides a record's entry.
    pub async fn record_import_created(
        &mut self,
        ws: i64,
        import: i64,
        entity: ImportEntity,
        ids: &[i64],
    ) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO import_created (workspace_id, import_id, entity, record_ids, after_xid)
             VALUES ($1, $2, $3, $4, pg_current_xact_id())",
        )
        .bind(ws)
        .bind(import)
        .bind(entity.table())
        .bind(ids)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Lists the history rows a batch added to deals that were already there (their moves),
    /// so the undo takes them out with the deals' earlier images.
    pub async fn record_import_moves(
        &mut self,
        ws: i64,
        import: i64,
        ids: &[i64],
    ) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO import_created (workspace_id, import_id, entity, record_ids, after_xid)
             VALUES ($1, $2, 'stage_changes', $3, pg_current_xact_id())",
        )
        .bind(ws)
        .bind(import)
        .bind(ids)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Lists records an import changed (their image before), or created and wrote again
    /// (`before` empty), in the same transaction that wrote them: that transaction is what the
    /// undo later finds in their xmin if nothing wrote them since. A record already listed
    /// here keeps its first before-image and takes the newer transaction.
    pub async fn record_import_rows(
        &mut self,
        ws: i64,
        import: i64,
        entity: ImportEntity,
        ids: &[i64],
        before: &[Option<Value>],
    ) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO import_rows (workspace_id, import_id, entity, record_id, before, after_xid)
             SELECT $1, $2, $3, u.id, u.b, pg_current_xact_id()
             FROM UNNEST($4::bigint[], $5::jsonb[]) AS u(id, b)
             ON CONFLICT (workspace_id, import_id, entity, record_id)
             DO UPDATE SET after_xid = excluded.after_xid, after_hash = NULL",
        )
        .bind(ws)
        .bind(import)
        .bind(entity.table())
        .bind(ids)
        .bind(before)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Lists on the import the deals its activities moved the last activity of, so that the
    /// undo puts it back: a deal it had not listed with its image before; one it listed (it
    /// created or changed it) moves to this transaction, but only if it was as the import
    /// left it: one another command wrote since stays listed under the import's last write,
    /// so the undo names it as changed and leaves it.
    pub async fn record_activity_bumps(
        &mut self,
        ws: i64,
        import: i64,
        moved: &[BumpedDeal],
    ) -> StoreResult<()> {
        if moved.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = moved.iter().map(|m| m.id).collect();
        let xmins: Vec<&str> = moved.iter().map(|m| m.xmin.as_str()).collect();
        let images: Vec<&Value> = moved.iter().map(|m| &m.image).collect();
        sqlx::query(
            "WITH m AS (SELECT * FROM UNNEST($3::bigint[], $4::text[], $5::jsonb[]) AS m(id, xmin, image)),
                  listed AS (SELECT r.record_id, r.after_xid FROM import_records r JOIN m ON r.record_id = m.id
                             WHERE r.workspace_id = $1 AND r.import_id = $2 AND r.entity = 'deals')
             INSERT INTO import_rows (workspace_id, import_id, entity, record_id, before, after_xid)
             SELECT $1, $2, 'deals', m.id, CASE WHEN l.record_id IS NULL THEN m.image END, pg_current_xact_id()
             FROM m LEFT JOIN listed l ON l.record_id = m.id
             WHERE l.record_id IS NULL OR xid(l.after_xid) = m.xmin::xid
             ON CONFLICT (workspace_id, import_id, entity, record_id)
             DO UPDATE SET after_xid = excluded.after_xid, after_hash = NULL",
        )
        .bind(ws)
        .bind(import)
        .bind(&ids)
        .bind(&xmins)
        .bind(&images)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Changes matched companies' industry, website, tags, tier and contract end, one
    /// statement for the batch (`None` keeps a value).
    pub async fn update_import_companies(
        &mut self,
        ws: i64,
        u: &CompanyUpdates,
    ) -> StoreResult<()> {
        if u.id.is_empty() {
            return Ok(());
        }
        // Tags travel comma-joined, as when companies are inserted.
        sqlx::query(
            "UPDATE companies c SET industry = COALESCE(u.i, c.industry), website = COALESCE(u.w, c.website),
                                    tags = CASE WHEN u.t IS NULL THEN c.tags
                                                WHEN u.t = '' THEN '{}'::text[]
                                                ELSE string_to_array(u.t, ',') END,
                                    tier = COALESCE(u.ti, c.tier), contract_end = COALESCE(u.ce, c.contract_end)
             FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::date[]) AS u(id, i, w, t, ti, ce)
             WHERE c.workspace_id = $1 AND c.id = u.id",
        )
        .bind(ws)
        .bind(&u.id)
        .bind(&u.industry)
        .bind(&u.website)
        .bind(&u.tags)
        .bind(&u.tier)
        .bind(&u.contract_end)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Changes matched contacts' phone, company, tags, job title, birthday and contract end,
    /// one statement for the batch (`None` keeps a value).
    pub async fn update_import_contacts(&mut self, ws: i64, u: &ContactUpdates) -> StoreResult<()> {
        if u.id.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE contacts c SET phone = COALESCE(u.p, c.phone), company_id = COALESCE(u.co, c.company_id),
                                   tags = CASE WHEN u.t IS NULL THEN c.tags
                                               WHEN u.t = '' THEN '{}'::text[]
                                               ELSE string_to_array(u.t, ',') END,
                                   title = COALESCE(u.ti, c.title),
                                   birthday_year = CASE WHEN u.bm IS NULL THEN c.birthday_year ELSE u.by END,
                                   birthday_month = COALESCE(u.bm, c.birthday_month),
                                   birthday_day = COALESCE(u.bd, c.birthday_day),
                                   contract_end = COALESCE(u.ce, c.contract_end)
             FROM UNNEST($2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::int[], $8::smallint[],
                         $9::smallint[], $10::date[]) AS u(id, p, co, t, ti, by, bm, bd, ce)
             WHERE c.workspace_id = $1 AND c.id = u.id",
        )
        .bind(ws)
        .bind(&u.id)
        .bind(&u.phone)
        .bind(&u.company)
        .bind(&u.tags)
        .bind(&u.title)
        .bind(&u.birthday_year)
        .bind(&u.birthday_month)
        .bind(&u.birthday_day)
        .bind(&u.contract_end)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Changes matched deals' plain fields, one statement for the batch (`None` keeps a
    /// value); their stage moves are [`Tx::move_import_deals`].
    pub async fn update_import_deals(
        &mut self,
        ws: i64,
        u: &DealUpdates,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        if u.id.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE deals d SET title = COALESCE(u.t, d.title), amount_minor = COALESCE(u.a, d.amount_minor),
                                expected_close = COALESCE(u.e, d.expected_close), owner_id = COALESCE(u.o, d.owner_id),
                                updated_at = $2
             FROM UNNEST($3::bigint[], $4::text[], $5::bigint[], $6::date[], $7::bigint[]) AS u(id, t, a, e, o)
             WHERE d.workspace_id = $1 AND d.id = u.id",
        )
        .bind(ws)
        .bind(now)
        .bind(&u.id)
        .bind(&u.title)
        .bind(&u.amount)
        .bind(&u.expected_close)
        .bind(&u.owner)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Moves matched deals to their stages, keeping status, close time and furthest stage
    /// consistent, one statement for the batch; their history rows go in with
    /// [`Tx::insert_import_moves`] (the importer's move: its undo is the import's, not the
    /// audit log's).
    pub async fn move_import_deals(&mut self, ws: i64, m: &DealMoves) -> StoreResult<()> {
        if m.id.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE deals d SET stage_id = u.s, status = u.st, furthest_position = u.f, closed_at = u.cl,
                                lost_reason = u.lr, updated_at = u.at,
                                last_activity_at = GREATEST(d.last_activity_at, u.at)
             FROM UNNEST($2::bigint[], $3::bigint[], $4::text[], $5::int[], $6::timestamptz[], $7::text[],
                         $8::timestamptz[]) AS u(id, s, st, f, cl, lr, at)
             WHERE d.workspace_id = $1 AND d.id = u.id",
        )
        .bind(ws)
        .bind(&m.id)
        .bind(&m.stage)
        .bind(&m.status)
        .bind(&m.furthest)
        .bind(&m.closed_at)
        .bind(&m.lost_reason)
        .bind(&m.at)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Takes an import back: every record it created that still looks as the import left it
    /// and that nothing added since refers to is deleted (a deal with its history and lines),
    /// every record it changed that still looks so gets its earlier image back, and the rest
    /// is listed and left.
    pub async fn undo_import(
        &mut self,
        ws: i64,
        import: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Result<UndoReport, UndoRefusal>> {
        let status: Option<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT status, heartbeat_at FROM imports WHERE workspace_id = $1 AND id = $2 FOR UPDATE",
        )
        .bind(ws)
        .bind(import)
        .fetch_optional(self.conn())
        .await?;
        match status {
            None => return Ok(Err(UndoRefusal::Unknown(import))),
            Some((s, _)) if s == "undone" => return Ok(Err(UndoRefusal::AlreadyUndone(import))),
            // Still writing batches; one whose heartbeat stopped was interrupted and can go.
            Some((s, beat)) if s == "running" && now - beat < STALE_IMPORT => {
                return Ok(Err(UndoRefusal::Running(import)))
            }
            Some(_) => {}
        }
        let mut report = UndoReport::default();
        // Which listed records changed since: their image now differs from the one the import
        // left (or they are gone).
        let mut changed: std::collections::HashSet<(ImportEntity, i64)> = Default::default();
        for entity in ImportEntity::ALL {
            let sql = format!(
                "SELECT r.record_id, COALESCE(t.title_or_name, '') FROM import_records r
                 LEFT JOIN LATERAL (SELECT {unchanged} AS same, {label} AS title_or_name FROM {table} x
                                    WHERE x.workspace_id = r.workspace_id AND x.id = r.record_id) t ON true
                 WHERE r.workspace_id = $1 AND r.import_id = $2 AND r.entity = $3
                   AND t.same IS NOT TRUE",
                unchanged = unchanged_sql("x"),
                table = entity.table(),
                label = label_sql(entity),
            );
            let rows: Vec<(i64, String)> = sqlx::query_as(&sql)
                .bind(ws)
                .bind(import)
                .bind(entity.table())
                .fetch_all(self.conn())
                .await?;
            for (id, label) in rows {
                changed.insert((entity, id));
                report.left.push(LeftRecord {
                    entity,
                    id,
                    label,
                    changed: true,
                });
            }
        }
        // Rows point at each other (the foreign keys are deferrable); they are checked once
        // everything is back.
        sqlx::query("SET CONSTRAINTS ALL DEFERRED")
            .execute(self.conn())
            .await?;
        for entity in ImportEntity::ALL {
            let table = entity.table();
            let unchanged = format!(
                "r.workspace_id = $1 AND r.import_id = $2 AND r.entity = $3 AND {}",
                unchanged_sql("t")
            );
            if entity == ImportEntity::Deal {
                // A created deal goes with the history and lines the import gave it.
                let mut children: Vec<String> = ["stage_changes", "deal_products"]
                    .iter()
                    .map(|child| {
                        format!(
                            "DELETE FROM {child} c USING import_records r, deals t
                             WHERE c.workspace_id = $1 AND c.deal_id = r.record_id AND r.before IS NULL
                               AND t.workspace_id = $1 AND t.id = r.record_id AND {unchanged}
                               AND NOT EXISTS (SELECT 1 FROM activities a WHERE a.workspace_id = $1 AND a.deal_id = t.id)
                               AND NOT EXISTS (SELECT 1 FROM tasks k WHERE k.workspace_id = $1 AND k.deal_id = t.id)"
                        )
                    })
                    .collect();
                // A deal the import moved goes back with the history row the move added (its
                // delete gives the row before it its open end back); a deal changed since
                // keeps both.
                children.push(format!(
                    "DELETE FROM stage_changes c USING import_created m, import_records r, deals t
                     WHERE m.workspace_id = $1 AND m.import_id = $2 AND m.entity = 'stage_changes'
                       AND c.workspace_id = $1 AND c.id = ANY(m.record_ids)
                       AND r.record_id = c.deal_id AND r.before IS NOT NULL
                       AND t.workspace_id = $1 AND t.id = r.record_id AND {unchanged}"
                ));
                for sql in &children {
                    sqlx::query(sql)
                        .bind(ws)
                        .bind(import)
                        .bind(table)
                        .execute(self.conn())
                        .await?;
                }
            }
            let sql = format!(
                "DELETE FROM {table} t USING import_records r
                 WHERE t.workspace_id = $1 AND t.id = r.record_id AND r.before IS NULL AND {unchanged}
                   AND NOT ({used})
                 RETURNING t.id",
                used = used_sql(entity),
            );
            let removed: Vec<i64> = sqlx::query_scalar(&sql)
                .bind(ws)
                .bind(import)
                .bind(table)
                .fetch_all(self.conn())
                .await?;
            report.removed += removed.len() as i64;
            sqlx::query(
                "DELETE FROM external_ids WHERE workspace_id = $1 AND entity = $2 AND record_id = ANY($3)",
            )
            .bind(ws)
            .bind(table)
            .bind(&removed)
            .execute(self.conn())
            .await?;
            // What the import changed goes back to its image before, in place: an update fires
            // only the triggers of the columns it changes (a deal whose amount goes back
            // moves its totals, not its stays and lines out and in again), where deleting the
            // row and inserting the image fired every row trigger twice (about 1 ms a deal
            // on the 100,000-deal benchmark).
            let columns: Vec<String> = sqlx::query_scalar(
                "SELECT quote_ident(attname) FROM pg_attribute
                 WHERE attrelid = $1::text::regclass AND attnum > 0 AND NOT attisdropped
                   AND attgenerated = '' AND attname NOT IN ('workspace_id', 'id')
                 ORDER BY attnum",
            )
            .bind(table)
            .fetch_all(self.conn())
            .await?;
            let sql = format!(
                "UPDATE {table} t SET ({columns}) = (SELECT {image} FROM jsonb_populate_record(NULL::{table}, r.before) p)
                 FROM import_records r
                 WHERE t.workspace_id = $1 AND t.id = r.record_id AND r.before IS NOT NULL AND {unchanged}",
                columns = columns.join(", "),
                image = columns
                    .iter()
                    .map(|c| format!("p.{c}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            let restored = sqlx::query(&sql)
                .bind(ws)
                .bind(import)
                .bind(table)
                .execute(self.conn())
                .await?;
            report.restored += restored.rows_affected() as i64;
            // Created records still here and unchanged: something added since refers to them.
            let sql = format!(
                "SELECT t.id, {label} FROM {table} t JOIN import_records r
                   ON t.workspace_id = $1 AND t.id = r.record_id AND r.before IS NULL AND {unchanged}",
                label = label_sql(entity).replace("x.", "t."),
            );
            let kept: Vec<(i64, String)> = sqlx::query_as(&sql)
                .bind(ws)
                .bind(import)
                .bind(table)
                .fetch_all(self.conn())
                .await?;
            for (id, label) in kept {
                if !changed.contains(&(entity, id)) {
                    report.left.push(LeftRecord {
                        entity,
                        id,
                        label,
                        changed: false,
                    });
                }
            }
        }
        sqlx::query("SET CONSTRAINTS ALL IMMEDIATE")
            .execute(self.conn())
            .await?;
        sqlx::query(
            "UPDATE imports SET status = 'undone', undone_at = $3 WHERE workspace_id = $1 AND id = $2",
        )
        .bind(ws)
        .bind(import)
        .bind(now)
        .execute(self.conn())
        .await?;
        report.left.sort_by_key(|l| (l.entity, l.id));
        Ok(Ok(report))
    }
}

/// Whether the record (alias `t`) is as the import row `r` left it: no transaction wrote it
/// since the one recorded (rows from before that column have a hash of the image instead).
fn unchanged_sql(t: &str) -> String {
    format!(
        "CASE WHEN r.after_xid IS NOT NULL THEN {t}.xmin = xid(r.after_xid)
              ELSE md5(to_jsonb({t})::text) = r.after_hash END"
    )
}

/// The column that names a record of `entity` (alias `x`).
fn label_sql(entity: ImportEntity) -> &'static str {
    match entity {
        ImportEntity::Deal => "'D-' || x.number || ' ' || x.title",
        ImportEntity::Activity => "x.kind || ' ' || x.happened_at::text",
        ImportEntity::Contact => "x.name || COALESCE(' <' || x.email || '>', '')",
        ImportEntity::Company | ImportEntity::Product => "x.name",
    }
}

/// What refers to a record of `entity` (alias `t`): such a record stays.
fn used_sql(entity: ImportEntity) -> &'static str {
    match entity {
        ImportEntity::Activity => {
            "EXISTS (SELECT 1 FROM tasks k WHERE k.workspace_id = t.workspace_id AND k.activity_id = t.id)"
        }
        ImportEntity::Deal => {
            "EXISTS (SELECT 1 FROM activities a WHERE a.workspace_id = t.workspace_id AND a.deal_id = t.id)
             OR EXISTS (SELECT 1 FROM tasks k WHERE k.workspace_id = t.workspace_id AND k.deal_id = t.id)
             OR EXISTS (SELECT 1 FROM stage_changes s WHERE s.workspace_id = t.workspace_id AND s.deal_id = t.id)
             OR EXISTS (SELECT 1 FROM deal_products l WHERE l.workspace_id = t.workspace_id AND l.deal_id = t.id)"
        }
        ImportEntity::Contact => {
            "EXISTS (SELECT 1 FROM deals d WHERE d.workspace_id = t.workspace_id AND d.contact_id = t.id)
             OR EXISTS (SELECT 1 FROM activities a WHERE a.workspace_id = t.workspace_id AND a.contact_id = t.id)
             OR EXISTS (SELECT 1 FROM tasks k WHERE k.workspace_id = t.workspace_id AND k.contact_id = t.id)"
        }
        ImportEntity::Company => {
            "EXISTS (SELECT 1 FROM deals d WHERE d.workspace_id = t.workspace_id AND d.company_id = t.id)
             OR EXISTS (SELECT 1 FROM contacts c WHERE c.workspace_id = t.workspace_id AND c.company_id = t.id)"
        }
        ImportEntity::Product => {
            "EXISTS (SELECT 1 FROM deal_products l WHERE l.workspace_id = t.workspace_id AND l.product_id = t.id)"
        }
    }
}

impl ImportRow {
    /// Whether the import can still be taken back (a running one only once it stopped).
    pub fn undoable(&self, now: DateTime<Utc>) -> bool {
        self.status == "done"
            || (self.status == "running" && now - self.heartbeat_at >= STALE_IMPORT)
    }
}
