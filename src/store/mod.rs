//! Every SQL statement lives under this module. The engine sees plain row structs and
//! [`StoreError`]; no sqlx type crosses the boundary except through [`Tx`], which is opaque.

mod api;
mod audit;
#[cfg(feature = "demo")]
mod bulk;
mod crm;
mod deals;
mod export;
mod import;
mod jobs;
mod outbox;
mod pace;
mod pending;
mod products;
mod reports;
#[cfg(feature = "demo")]
mod seed;
mod stats;
mod suggest;
mod tasks;
mod types;
mod webhooks;
mod workspace;

pub use api::{
    ApiActivity, ApiCompany, ApiContact, ApiDeal, ApiProduct, ApiTask, Idempotency, KeptAnswer,
    KeyState, ListFilter, TokenRow, IDEMPOTENCY_HOURS,
};
pub use audit::{AuditEntry, Entity, Stamp, UndoOutcome};
#[cfg(feature = "demo")]
pub use bulk::BulkShape;
pub use crm::{
    CompanyRow, ContactRow, NewCompany, NewContact, CONTACT_COUNT_CAP, CONTACT_FIND_LIMIT,
};
pub use deals::{DealDetail, DealFilter, DealRow, Moved, NewActivity, NewDeal, StageMove};
pub use export::{ExportActivityRow, ExportCompanyRow, ExportContactRow, ExportDealRow};
pub use import::{
    ActivityColumns, BumpedDeal, ChangeColumns, CompanyColumns, CompanyUpdates, ContactColumns,
    ContactUpdates, DealColumns, DealMoves, DealSlots, DealUpdates, ImportEntity, ImportRow,
    KnownCompany, KnownContact, KnownDeal, LeftRecord, LineColumns, MatchKeys, Matches,
    UndoRefusal, UndoReport,
};
pub use jobs::{
    AgendaData, AgendaMember, AgendaTask, Birthday, ContractEnd, DigestReader, DigestWorkspace,
    DueDigest, DueTask, NextDue, OverdueDeal, RepLine, RiskyDeal, ScanLease, StaleDeal,
    WeekFigures,
};
pub use outbox::{task_slot, task_slot_key, Envelope, NewOutbox, OutboxRow};
pub use pace::Pace;
pub use pending::PendingImport;
pub use products::{DealLine, ProductInfo};
pub use reports::{CustomerRow, DealTotal, ForecastRaw, ProductRow, TrendRow};
#[cfg(feature = "demo")]
pub use seed::{SeedCompany, SeedContact, SeedDeal, SeedMember};
pub use stats::{ActivityRow, ClosedStats, DealFlow, DealFlowRow, PipelineRaw};
pub use suggest::Suggestion;
pub use tasks::{NewTask, TaskRow};
pub use types::{AuditAction, OutboxKind, OutboxStatus, OutboxTarget, UnknownValue};
pub use webhooks::{DeliveryRow, EndpointRow, FailedAttempt, WebhookJob};
pub use workspace::{MemberRow, Named, Prelude, StageRow, WorkspaceRow};

use crate::domain::money::TotalOverflow;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool, Postgres};
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Storage failures, mapped once here so callers branch on meaning, not on driver codes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; carries the constraint name.
    #[error("unique constraint {0} refused the write")]
    Duplicate(String),
    /// Two transactions got in each other's way (deadlock, serialization failure); running
    /// the whole transaction again is safe and will almost always succeed.
    #[error("transaction conflicted with another; retry")]
    Contention(#[source] sqlx::Error),
    /// A row changed between the command reading it and writing it (another command moved the
    /// same deal first); nothing was written, and running the whole transaction again reads
    /// the row afresh. Carries what changed.
    #[error("{0} changed since it was read; retry")]
    Stale(&'static str),
    /// The database cannot be reached right now; the caller may retry later.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A money figure past what it may hold: a total past bigint (SQLSTATE 22003, which
    /// Postgres raises instead of wrapping) or an amount past the cap (a `*_cap` constraint).
    /// Amounts held to the cap cannot cause it; rows written around the checks can.
    #[error("money figure out of range: {0}")]
    OutOfRange(#[source] anyhow::Error),
    /// The request's interaction id was marked as processed by another delivery of it since
    /// its prelude looked: nothing was written, and the request is a duplicate.
    #[error("the interaction was already processed")]
    Repeated,
    /// Anything else: a bug or an unexpected state.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// The connection itself failed (the server closed it, or is going away), as opposed to the
/// pool having none to give or a statement being refused.
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            // admin_shutdown, crash_shutdown, idle_session_timeout: the server ended the
            // session while it was idle.
            matches!(db.code().as_deref(), Some("57P01" | "57P02" | "57P05"))
        }
        _ => false,
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Duplicate(db.constraint().unwrap_or_default().to_string())
            }
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => StoreError::Unavailable(e),
            sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")) => {
                StoreError::Contention(e)
            }
            sqlx::Error::Database(db)
                if db.code().as_deref() == Some("22003")
                    || (db.code().as_deref() == Some("23514")
                        && db.constraint().is_some_and(|c| c.ends_with("_cap"))) =>
            {
                StoreError::OutOfRange(anyhow::Error::new(e))
            }
            sqlx::Error::Database(db)
                // admin_shutdown, crash_shutdown, cannot_connect_now: the server is going away.
                if matches!(db.code().as_deref(), Some("57P01" | "57P02" | "57P03")) =>
            {
                StoreError::Unavailable(e)
            }
            _ => StoreError::Unexpected(anyhow::Error::new(e)),
        }
    }
}

/// A money total the store adds up in Rust that went past `i64`: the same error as one that
/// went past bigint in SQL.
impl From<TotalOverflow> for StoreError {
    fn from(e: TotalOverflow) -> Self {
        StoreError::OutOfRange(anyhow::Error::new(e))
    }
}

impl StoreError {
    /// Whether the connection the statement went out on was found dead ([`connection_lost`]).
    fn lost_connection(&self) -> bool {
        match self {
            StoreError::Unavailable(e) => connection_lost(e),
            StoreError::Unexpected(e) => {
                e.downcast_ref::<sqlx::Error>().is_some_and(connection_lost)
            }
            _ => false,
        }
    }

    /// Whether an error, anywhere in its chain, is the database being away: scheduled work
    /// reports through anyhow, and its caller still owes the person the outage message.
    pub fn is_outage(e: &anyhow::Error) -> bool {
        e.chain().any(|cause| {
            matches!(
                cause.downcast_ref::<StoreError>(),
                Some(StoreError::Unavailable(_))
            ) || matches!(
                cause.downcast_ref::<sqlx::Error>(),
                Some(
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Tls(_)
                        | sqlx::Error::Protocol(_)
                )
            )
        })
    }
}

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// The handle to the database: a connection pool to the primary, and optionally one to a
/// streaming replica that reports, exports and autocomplete read from.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    read: Option<Replica>,
    kept: Kept,
}

/// Connections whose transaction ended cleanly, held for the next [`Store::begin`] instead
/// of going back to the pool. sqlx pings every connection it takes back (a round trip, and a
/// task spawned to make it): with six round trips a command, that ping was one in six of
/// the bot's socket writes and of the server's messages. A kept connection has just answered
/// COMMIT or ROLLBACK, which is all the ping would have learnt; one that died since fails at
/// BEGIN, where `Store::begin` takes another.
#[derive(Clone, Debug, Default)]
struct Kept(Arc<KeptInner>);

#[derive(Debug, Default)]
struct KeptInner {
    /// Oldest first: each is pushed when its transaction ends.
    conns: std::sync::Mutex<Vec<KeptConn>>,
    /// The pool was closed: nothing is kept any more. `Pool::close` waits for every
    /// connection it lent, kept ones too.
    closed: std::sync::atomic::AtomicBool,
    /// The pool the connections are lent from, to see when it runs short (`None`: nothing is
    /// kept).
    pool: Option<PgPool>,
}

/// A kept connection, since when it waits, and since when the store has held it.
#[derive(Debug)]
struct KeptConn {
    conn: PoolConnection<Postgres>,
    idle_since: std::time::Instant,
    held_since: std::time::Instant,
}

/// A kept connection idle this long goes back to the pool, whose idle timeout then applies;
/// one held this long goes back when its transaction ends, so the pool's lifetime applies.
const KEPT_IDLE: Duration = Duration::from_secs(60);
const KEPT_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// At most this many connections are kept: as many as commands run at once on Discord
/// (`discord::MAX_RUNNING`). The pool counts kept connections as in use, so only a store
/// that made its own pool keeps any, and that pool holds [`POOL_MAX`]: the loops outside
/// commands (outbox, scheduler, webhooks, an import's two) always find the rest. A pool
/// handed in (`Store::from_pool`) may be shared with code that knows nothing of them.
const KEPT_MAX: usize = 12;

/// The primary pool's size: [`KEPT_MAX`] kept for commands and eight for everything else.
const POOL_MAX: u32 = KEPT_MAX as u32 + 8;

impl Kept {
    /// Keeps connections of `pool` until the pool closes. Outside a runtime (nothing to wait
    /// for the close on) nothing is kept.
    fn for_pool(pool: &PgPool) -> Kept {
        let kept = Kept(Arc::new(KeptInner {
            pool: Some(pool.clone()),
            ..KeptInner::default()
        }));
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                // Weak: once every clone of the store is gone, the kept connections go back
                // to the pool with it, closed or not.
                let (closing, kept) = (pool.close_event(), Arc::downgrade(&kept.0));
                runtime.spawn(async move {
                    closing.await;
                    if let Some(kept) = kept.upgrade() {
                        Kept(kept).close();
                    }
                });
            }
            Err(_) => kept.close(),
        }
        kept
    }

    /// Keeps nothing: every connection goes back to the pool.
    fn off() -> Kept {
        let kept = Kept::default();
        kept.close();
        kept
    }

    /// The connection kept last, and since when the store has held it; those idle past
    /// [`KEPT_IDLE`] go back to the pool on the way.
    fn take(&self) -> Option<(PoolConnection<Postgres>, std::time::Instant)> {
        let (taken, stale) = {
            let mut kept = self.0.conns.lock().unwrap_or_else(|e| e.into_inner());
            let fresh = kept
                .iter()
                .position(|k| k.idle_since.elapsed() < KEPT_IDLE)
                .unwrap_or(kept.len());
            let stale: Vec<KeptConn> = kept.drain(..fresh).collect();
            (kept.pop(), stale)
        };
        drop(stale);
        taken.map(|k| (k.conn, k.held_since))
    }

    /// Keeps `conn` if there is room; else it goes back to the pool (sqlx's way). So does a
    /// connection held past [`KEPT_LIFETIME`], and any while the pool has none idle and no
    /// room for more: someone may be waiting in `acquire` (the outbox, the scheduler, a
    /// readiness probe), and a kept connection is never handed to them.
    fn keep(&self, conn: PoolConnection<Postgres>, held_since: std::time::Instant) {
        let short = self.0.pool.as_ref().is_none_or(|pool| {
            pool.num_idle() == 0 && pool.size() >= pool.options().get_max_connections()
        });
        if short || held_since.elapsed() >= KEPT_LIFETIME {
            return;
        }
        // Read under the lock `close` takes, so nothing is kept after it has emptied the list.
        let mut kept = self.0.conns.lock().unwrap_or_else(|e| e.into_inner());
        if !self.0.closed.load(Ordering::Relaxed) && kept.len() < KEPT_MAX {
            kept.push(KeptConn {
                conn,
                idle_since: std::time::Instant::now(),
                held_since,
            });
        }
    }

    /// Gives every kept connection back (to a closing pool, which closes them).
    fn close(&self) {
        let gone = {
            let mut kept = self.0.conns.lock().unwrap_or_else(|e| e.into_inner());
            self.0.closed.store(true, Ordering::Relaxed);
            std::mem::take(&mut *kept)
        };
        drop(gone);
    }
}

/// The replica's pool, and what the last read that waited for it in vain saw.
#[derive(Clone, Debug)]
struct Replica {
    pool: PgPool,
    /// The replay position (bytes) at which a read last waited [`REPLICA_WAIT`] in vain; -1
    /// when none has. A replica still at that position has replayed nothing since (paused,
    /// cut off from the primary): reads do not wait for it again, or each report would hold
    /// one of the few commands that run at once for the whole wait, and under load a
    /// stopped replica would slow every command, not only the reports.
    stalled_at: Arc<AtomicI64>,
}

/// A position in the primary's write-ahead log. A replica that has replayed it has every
/// commit that was visible when it was read, so a read there misses none of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalPosition(i64);

/// How long a read waits for the replica to replay what the primary had committed when the
/// request came in, before it reads anyway and says how old its figures are. Short: a
/// replica this far behind is lagging, not about to catch up.
const REPLICA_WAIT: Duration = Duration::from_millis(250);

/// The primary's flushed write-ahead log position as a number of bytes, comparable with a
/// replica's `pg_last_wal_replay_lsn()`. Flushed, not written: a commit is visible only once
/// flushed (`synchronous_commit` on; the one exception, an import's deal-number reservation,
/// is never read from a replica), and only flushed WAL is streamed, so a replica is never
/// waited on for WAL it cannot have yet.
const WAL_POSITION: &str = "SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint";

/// One open transaction. Everything a command writes goes through one of these.
///
/// BEGIN, COMMIT and ROLLBACK are sent here rather than by sqlx's `Transaction`, which gives
/// its connection back to the pool (and its ping) when it ends: a primary transaction that
/// ends cleanly leaves its connection in [`Kept`] for the next one.
pub struct Tx {
    /// `None` only once the transaction has ended.
    conn: Option<PoolConnection<Postgres>>,
    /// Where the connection waits after a clean end: the primary's; `None` for the replica's.
    kept: Option<Kept>,
    /// Since when the store has held the connection (`Kept`).
    held_since: std::time::Instant,
    /// Whether BEGIN was sent. A request that only reads runs without one
    /// ([`Store::prelude_reads`]): each statement is then its own transaction, two round trips
    /// fewer, and under READ COMMITTED it sees what it would have seen inside one. A statement
    /// that writes or needs a transaction block calls [`Tx::open`] first.
    open: bool,
    /// A command that writes one statement runs it without BEGIN and COMMIT
    /// ([`Store::prelude_one_write`]): its interaction marker (workspace, interaction id) waits
    /// here for that statement, which writes it along ([`Tx::one_write`]), or for
    /// [`Tx::open`], which writes it right after BEGIN.
    marker: Option<(i64, i64)>,
    /// Whether a statement wrote outside a transaction ([`Tx::one_write`]): it is committed,
    /// so nothing may write after it.
    wrote_alone: bool,
}

impl Store {
    /// Connects, creating the database if it is missing, and applies migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        let options =
            PgConnectOptions::from_str(url).context("DATABASE_URL is not a valid postgres URL")?;
        create_database_if_missing(&options).await?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_MAX)
            // Short enough that a command answers "try again" inside Discord's 3 s window.
            .acquire_timeout(Duration::from_secs(2))
            // sqlx pings each connection before handing it out: a round trip to the server
            // for every command, the server's statement log does not show. A connection that
            // died while idle fails at BEGIN instead, where nothing has happened yet, and
            // `Store::begin` takes another.
            .test_before_acquire(false)
            .connect_with(session_options(options))
            .await
            .context("could not connect to the database")?;
        let store = Store {
            kept: Kept::for_pool(&pool),
            pool,
            read: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Wraps an existing pool (tests get one per test database). The pool is the caller's,
    /// sized for its own uses too: no connection is kept out of it ([`Kept`]).
    pub fn from_pool(pool: PgPool) -> Store {
        Store {
            kept: Kept::off(),
            pool,
            read: None,
        }
    }

    /// Reads reports, exports and autocomplete from the replica at `url` (`DATABASE_READ_URL`).
    /// The pool connects lazily: a replica that is down costs a fallback to the primary per
    /// read, not the bot's start.
    pub fn with_replica_url(self, url: &str) -> anyhow::Result<Store> {
        let options = PgConnectOptions::from_str(url)
            .context("DATABASE_READ_URL is not a valid postgres URL")?;
        let read = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(1))
            .connect_lazy_with(session_options(options));
        Ok(self.with_replica(read))
    }

    /// Reads reports, exports and autocomplete through `read` (tests pass a replica's pool).
    pub fn with_replica(mut self, read: PgPool) -> Store {
        self.read = Some(Replica {
            pool: read,
            stalled_at: Arc::new(AtomicI64::new(-1)),
        });
        self
    }

    /// The primary's write-ahead log position now (a command's is in its `Prelude`).
    pub async fn wal_position(&self) -> StoreResult<WalPosition> {
        let at: i64 = sqlx::query_scalar(WAL_POSITION)
            .fetch_one(self.pool())
            .await?;
        Ok(WalPosition(at))
    }

    /// Where a read on the replica must have caught up to, to see everything committed so
    /// far ([`Store::begin_read`]'s `after`); `None` without a replica, when there is nothing
    /// to wait for.
    pub async fn read_after(&self) -> StoreResult<Option<WalPosition>> {
        match self.read {
            Some(_) => Ok(Some(self.wal_position().await?)),
            None => Ok(None),
        }
    }

    /// Whether reads go to a replica, so callers only note the primary's position when it
    /// will be used.
    pub fn has_replica(&self) -> bool {
        self.read.is_some()
    }

    /// A read-only transaction on the replica when there is one, else on the primary.
    /// With `after`, it first waits up to [`REPLICA_WAIT`] for the replica to replay that
    /// position; if it has not, the transaction reads anyway and the second value is the
    /// time its data is from ("as of"). A replica that has replayed nothing since a read last
    /// waited for it in vain is not waited for (`Replica::stalled_at`). A replica that cannot
    /// be reached, or cannot say how old its data is, is passed over for the primary, logged
    /// and counted.
    pub async fn begin_read(
        &self,
        after: Option<WalPosition>,
    ) -> StoreResult<(Tx, Option<DateTime<Utc>>)> {
        let Some(read) = &self.read else {
            return Ok((self.begin().await?, None));
        };
        match replica_tx(read, after).await {
            Ok(Some(found)) => Ok(found),
            Ok(None) => {
                metrics::counter!("salesbot_replica_fallbacks_total", "reason" => "unknown_age")
                    .increment(1);
                tracing::warn!(
                    "the replica has not replayed anything yet; reading from the primary"
                );
                Ok((self.begin().await?, None))
            }
            Err(e) => {
                metrics::counter!("salesbot_replica_fallbacks_total", "reason" => "error")
                    .increment(1);
                tracing::warn!(error = %e, "the replica cannot be read; reading from the primary");
                Ok((self.begin().await?, None))
            }
        }
    }

    /// Applies the migrations in `migrations/`.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        sqlx::migrate!("./migrations")
            .run(&self.pool)
            .await
            .context("failed to apply migrations")?;
        Ok(())
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> StoreResult<Tx> {
        // After a server restart every idle connection is dead: at most one try for each
        // connection the pool may hold, then one it opens afresh. A dead one is closed when it
        // goes back to the pool, so it is not handed out twice.
        let mut tries = 0;
        loop {
            // Failing to get a connection (none free in time, the server refusing new ones)
            // is answered at once; only a connection lost at BEGIN is retried.
            let (conn, held_since) = self.connection().await?;
            match Tx::begin(conn, Some(self.kept.clone()), held_since, "BEGIN").await {
                Ok(tx) => return Ok(tx),
                Err(e)
                    if connection_lost(&e)
                        && tries <= self.pool.options().get_max_connections() =>
                {
                    tries += 1;
                    tracing::debug!(error = %e, tries, "pooled connection lost before BEGIN; taking another");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Takes a connection for a request that only reads and runs its prelude (`Tx::prelude`,
    /// with no interaction marker: nothing a read does needs one) without BEGIN, so that the
    /// request costs two round trips fewer; a statement of it that writes opens a transaction
    /// first (`Tx::open`). A connection lost before the prelude is answered is replaced as in
    /// [`Store::begin`]: the prelude of a read writes nothing, so sending it again is safe.
    pub async fn prelude_reads(
        &self,
        ws: i64,
        user: i64,
        named: Named,
    ) -> StoreResult<(Tx, Option<Prelude>)> {
        self.prelude_unopened(ws, user, None, named).await
    }

    /// Runs the prelude of a command that writes at most one statement without BEGIN, as
    /// [`Store::prelude_reads`] does, so that the command costs two round trips fewer and the
    /// locks its statement takes (the deal, the day's rollup rows) are held for the statement
    /// alone rather than until the bot's COMMIT reaches the server. The prelude only looks
    /// for the interaction marker (`Prelude::repeated`); the marker is written by the write
    /// itself ([`Tx::one_write`]) or, should the command need a transaction after all, right
    /// after its BEGIN ([`Tx::open`]), so a repeated delivery is never applied twice.
    pub async fn prelude_one_write(
        &self,
        ws: i64,
        user: i64,
        interaction: Option<i64>,
        named: Named,
    ) -> StoreResult<(Tx, Option<Prelude>)> {
        self.prelude_unopened(ws, user, interaction, named).await
    }

    async fn prelude_unopened(
        &self,
        ws: i64,
        user: i64,
        interaction: Option<i64>,
        named: Named,
    ) -> StoreResult<(Tx, Option<Prelude>)> {
        let mut tries = 0;
        loop {
            let (conn, held_since) = self.connection().await?;
            let mut tx = Tx {
                conn: Some(conn),
                kept: Some(self.kept.clone()),
                held_since,
                open: false,
                marker: interaction.map(|id| (ws, id)),
                wrote_alone: false,
            };
            match tx.prelude(ws, user, None, named).await {
                Ok(prelude) => return Ok((tx, prelude)),
                Err(e) if e.lost_connection() => {
                    // Never kept: with no transaction to roll back, dropping it would keep it.
                    tx.discard();
                    if tries > self.pool.options().get_max_connections() {
                        return Err(e);
                    }
                    tries += 1;
                    tracing::debug!(error = %e, tries, "pooled connection lost before a prelude; taking another");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The connection a command kept last, or one from the pool, with since when the store
    /// has held it.
    async fn connection(&self) -> StoreResult<(PoolConnection<Postgres>, std::time::Instant)> {
        Ok(match self.kept.take() {
            Some(kept) => kept,
            None => (self.pool.acquire().await?, std::time::Instant::now()),
        })
    }

    /// The pool, for this module's statements that run outside a transaction. Private: every
    /// statement lives in `store/`.
    fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `delete`, a statement that deletes at most `batch` rows, until a run deletes fewer,
    /// and returns how many rows went: an expiry of many rows in short transactions, none of
    /// them holding many row locks or much WAL.
    async fn delete_in_batches(
        &self,
        batch: i64,
        delete: impl Fn() -> sqlx::query::Query<'static, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> StoreResult<u64> {
        let mut gone = 0;
        loop {
            let n = delete().execute(self.pool()).await?.rows_affected();
            gone += n;
            if n < batch.max(1) as u64 {
                return Ok(gone);
            }
        }
    }
}

/// A repeatable-read, read-only transaction on the replica `read` once it has replayed
/// `after` (or [`REPLICA_WAIT`] has passed, or it is stalled where a read last gave up on it);
/// `None` when it lags and cannot say since when.
async fn replica_tx(
    read: &Replica,
    after: Option<WalPosition>,
) -> StoreResult<Option<(Tx, Option<DateTime<Utc>>)>> {
    let mut conn = read.pool.acquire().await?;
    let deadline = tokio::time::Instant::now() + REPLICA_WAIT;
    // Checked before the transaction starts, so its snapshot is at least this new.
    let as_of = loop {
        let (recovering, replayed, replayed_at): (bool, Option<i64>, Option<DateTime<Utc>>) =
            sqlx::query_as(
                "SELECT pg_is_in_recovery(),
                        (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint,
                        pg_last_xact_replay_timestamp()",
            )
            .fetch_one(&mut *conn)
            .await?;
        let caught_up = match (after, replayed) {
            _ if !recovering => true,
            (None, _) => true,
            (Some(WalPosition(want)), Some(have)) => have >= want,
            (Some(_), None) => false,
        };
        if caught_up {
            break None;
        }
        let stalled = replayed.is_some_and(|have| have == read.stalled_at.load(Ordering::Relaxed));
        let timed_out = tokio::time::Instant::now() >= deadline;
        if stalled || timed_out {
            let waited = if stalled { "stalled" } else { "full" };
            metrics::counter!("salesbot_replica_stale_reads_total", "waited" => waited)
                .increment(1);
            if let Some(have) = replayed {
                read.stalled_at.store(have, Ordering::Relaxed);
            }
            match replayed_at {
                Some(at) => break Some(at),
                None => return Ok(None),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let tx = Tx::begin(
        conn,
        None,
        std::time::Instant::now(),
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    )
    .await?;
    Ok(Some((tx, as_of)))
}

impl Drop for Tx {
    /// A transaction dropped before it ended (a refusal, an error, a request given up) is
    /// rolled back on a task of its own, as sqlx's `Transaction` rolls back on its next use;
    /// its connection is kept once the server has answered.
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if !self.open {
            // No transaction to end: a statement cut off mid-way is drained by sqlx before the
            // connection's next one, as below.
            if let Some(kept) = &self.kept {
                kept.keep(conn, self.held_since);
            }
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to roll back on: the pool must not get a connection still inside a
            // transaction, so it closes it and the server rolls back.
            conn.close_on_drop();
            return;
        };
        let (kept, held_since) = (self.kept.clone(), self.held_since);
        runtime.spawn(async move {
            // A statement cut off mid-way is drained first: sqlx waits for the answers it
            // still owes before it sends the next query.
            match sqlx::Executor::execute(&mut *conn, "ROLLBACK").await {
                Ok(_) => {
                    if let Some(kept) = kept {
                        kept.keep(conn, held_since);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "rollback of a dropped transaction failed");
                    conn.close_on_drop();
                }
            }
        });
    }
}

impl Tx {
    /// Sends `begin` (a BEGIN statement) on `conn`.
    async fn begin(
        conn: PoolConnection<Postgres>,
        kept: Option<Kept>,
        held_since: std::time::Instant,
        begin: &'static str,
    ) -> Result<Tx, sqlx::Error> {
        // The transaction exists before BEGIN is sent: one given up half-way, or whose BEGIN
        // failed, is dropped and rolled back like any other (a ROLLBACK with nothing to roll
        // back is only a warning), so its connection never goes on inside a transaction.
        let mut tx = Tx {
            conn: Some(conn),
            kept,
            held_since,
            open: true,
            marker: None,
            wrote_alone: false,
        };
        // No arguments: sqlx sends it as a simple query, as its own `Transaction` does.
        sqlx::Executor::execute(tx.conn(), begin).await?;
        Ok(tx)
    }

    /// Closes the connection rather than keeping it: it was found dead.
    fn discard(mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.close_on_drop();
        }
    }

    /// Sends BEGIN if this request's statements have run without a transaction so far, so
    /// that what follows is written as one or needs a transaction block (`SET LOCAL`).
    /// A pending interaction marker ([`Store::prelude_one_write`]) goes in with BEGIN, in the
    /// same round trip; [`StoreError::Repeated`] when another delivery marked it first.
    pub(crate) async fn open(&mut self) -> StoreResult<()> {
        if self.open {
            return Ok(());
        }
        self.refuse_after_alone()?;
        // Set first: should BEGIN fail half-way, dropping the transaction rolls back.
        self.open = true;
        match self.marker.take() {
            None => {
                sqlx::Executor::execute(self.conn(), "BEGIN").await?;
            }
            Some((ws, interaction)) => {
                // Two statements in one simple query (sent so as it has no arguments; one round
                // trip), which cannot carry parameters: the two ids are integers, written out.
                let sql = format!(
                    "BEGIN; INSERT INTO processed_interactions (workspace_id, interaction_id) \
                     VALUES ({ws}, {interaction}) ON CONFLICT DO NOTHING"
                );
                let marked = sqlx::Executor::execute(self.conn(), sql.as_str()).await?;
                if marked.rows_affected() == 0 {
                    return Err(StoreError::Repeated);
                }
            }
        }
        Ok(())
    }

    /// For the one statement a command writes: the interaction marker it must write along
    /// (inserted only if that statement applies, and the statement applied only if the
    /// marker was new), and notes that the statement runs outside a transaction, so that
    /// nothing writes after it. Inside a transaction there is nothing to carry: [`Tx::open`]
    /// wrote the marker.
    pub(crate) fn one_write(&mut self) -> StoreResult<Option<i64>> {
        if self.open {
            return Ok(None);
        }
        self.refuse_after_alone()?;
        self.wrote_alone = true;
        Ok(self.marker.take().map(|(_, id)| id))
    }

    /// Refuses any write once a statement has written outside a transaction: that statement
    /// is already committed, so a second write could not be taken back with it.
    fn refuse_after_alone(&self) -> StoreResult<()> {
        if self.wrote_alone {
            return Err(anyhow::anyhow!(
                "a second write after a statement that wrote outside a transaction"
            )
            .into());
        }
        Ok(())
    }

    /// Whether this request has run no transaction and written nothing outside one: the
    /// engine opens one before a command that may write more than one statement.
    pub fn unopened(&self) -> bool {
        !self.open && !self.wrote_alone
    }

    /// The interaction id whose marker waits for the command's write, if any.
    pub(crate) fn pending_marker(&self) -> Option<i64> {
        self.marker.filter(|_| !self.open).map(|(_, id)| id)
    }

    /// Whether a statement wrote outside a transaction ([`Tx::one_write`]).
    pub fn wrote_alone(&self) -> bool {
        self.wrote_alone
    }

    /// Why a write that carried the interaction marker `marker` wrote nothing: the marker is
    /// there (another delivery of the request applied it: [`StoreError::Repeated`]), or
    /// `stale`, the row it would have changed has changed.
    pub(crate) async fn nothing_written(
        &mut self,
        ws: i64,
        marker: Option<i64>,
        stale: StoreError,
    ) -> StoreError {
        let Some(interaction) = marker else {
            return stale;
        };
        let found = sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM processed_interactions WHERE workspace_id = $1 AND interaction_id = $2)",
        )
        .bind(ws)
        .bind(interaction)
        .fetch_one(self.conn())
        .await;
        match found {
            Ok(true) => StoreError::Repeated,
            Ok(false) => stale,
            Err(e) => e.into(),
        }
    }

    /// Makes the command's writes permanent.
    pub async fn commit(mut self) -> StoreResult<()> {
        self.end("COMMIT").await
    }

    /// Ends the transaction with `end` (COMMIT or ROLLBACK) and keeps the connection for the
    /// next one. The connection stays in the transaction until the server has answered, so
    /// one given up meanwhile, or whose COMMIT failed (refused, or never sent because an
    /// earlier answer was an error), is rolled back by `drop` before it is kept (after a
    /// COMMIT that went through, a harmless warning), or closed if that fails too.
    async fn end(&mut self, end: &'static str) -> StoreResult<()> {
        let Some(conn) = self.conn.as_deref_mut() else {
            return Ok(());
        };
        if self.open {
            sqlx::Executor::execute(conn, end).await?;
        }
        match (self.conn.take(), &self.kept) {
            (Some(conn), Some(kept)) => kept.keep(conn, self.held_since),
            // The replica's goes back to its pool.
            (conn, _) => drop(conn),
        }
        Ok(())
    }

    fn conn(&mut self) -> &mut sqlx::PgConnection {
        // Present until `end` takes it, which consumes or drops the transaction.
        self.conn
            .as_deref_mut()
            .expect("a transaction's connection is there until it ends")
    }

    /// Marks a point the transaction can go back to ([`Tx::rollback_to_mark`]), so one item of
    /// a batch that fails is undone without losing the others'. One mark at a time.
    pub async fn mark(&mut self) -> StoreResult<()> {
        sqlx::query("SAVEPOINT item").execute(self.conn()).await?;
        Ok(())
    }

    /// Keeps what was written since [`Tx::mark`].
    pub async fn release_mark(&mut self) -> StoreResult<()> {
        sqlx::query("RELEASE SAVEPOINT item")
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Undoes what was written since [`Tx::mark`]; the transaction carries on.
    pub async fn rollback_to_mark(&mut self) -> StoreResult<()> {
        sqlx::query("ROLLBACK TO SAVEPOINT item")
            .execute(self.conn())
            .await?;
        self.release_mark().await
    }
}

/// What every connection of the bot's pools is opened with. Statements go to the log at trace
/// level only. JIT compilation is off (`jit`, sent in the start-up packet: no round trip):
/// every statement here is meant to take milliseconds, and JIT compiles on every execution
/// of a plan whose estimated cost passes `jit_above_cost`, cached plan or not. The period
/// reads' generic plans (`store/stats.rs`, `PERIOD`) are costed from default selectivities:
/// 83,000 for `/pipeline stats` on a 200-deal workspace (the threshold is 100,000), and a
/// draft of it at 370,000 took 32-62 ms a run compiled against 0.3 ms without.
fn session_options(options: PgConnectOptions) -> PgConnectOptions {
    options
        .log_statements(tracing::log::LevelFilter::Trace)
        .options([("jit", "off")])
}

/// Creates the target database when it does not exist yet, so a fresh machine needs no
/// manual `createdb`.
async fn create_database_if_missing(options: &PgConnectOptions) -> anyhow::Result<()> {
    let name = options.get_database().unwrap_or("postgres").to_string();
    let admin = options.clone().database("postgres");
    let mut conn = match sqlx::PgConnection::connect_with(&admin).await {
        Ok(c) => c,
        // Not allowed to use the maintenance database: assume the target exists and let the
        // real connection report any problem.
        Err(sqlx::Error::Database(_)) => return Ok(()),
        Err(e) => {
            return Err(anyhow::Error::new(e).context("could not connect to the database server"))
        }
    };
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .context("failed to look up the database")?;
    if !exists {
        // Identifiers cannot be bound as parameters; quote_ident makes the name safe.
        let quoted: String = sqlx::query_scalar("SELECT quote_ident($1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
        let create = format!("CREATE DATABASE {quoted}");
        match sqlx::query(&create).execute(&mut conn).await {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another process created it between our check and our create.
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(anyhow::Error::new(e).context("failed to create the database")),
        }
    }
    Ok(())
}
