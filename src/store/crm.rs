//! Companies and contacts.

use super::{StoreResult, Tx};
use chrono::{DateTime, NaiveDate, Utc};

/// A company as shown to people.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct CompanyRow {
    /// Row id (`CO-7`).
    pub id: i64,
    /// Display name, unique per owner regardless of case (the engine keeps it unique among
    /// what the caller can see).
    pub name: String,
    /// The account owner.
    pub owner_id: i64,
    /// Industry, free text.
    pub industry: Option<String>,
    /// enterprise, mid-market or smb.
    pub tier: Option<String>,
    /// Web address.
    pub website: Option<String>,
    /// Lowercased tags.
    pub tags: Vec<String>,
    /// When the contract with them ends.
    pub contract_end: Option<NaiveDate>,
}

/// Fields of a new company.
#[derive(Clone, Debug)]
pub struct NewCompany {
    /// Display name.
    pub name: String,
    /// Account owner.
    pub owner_id: i64,
    /// Industry.
    pub industry: Option<String>,
    /// Tier.
    pub tier: Option<String>,
    /// Web address.
    pub website: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Contract end.
    pub contract_end: Option<NaiveDate>,
}

/// A contact as shown to people, with its company name joined in. Also read from JSON: the
/// command prelude brings the contact a command names by id as `to_json` of
/// [`CONTACT_SELECT`]'s row.
#[derive(Clone, Debug, sqlx::FromRow, serde::Deserialize)]
pub struct ContactRow {
    /// Row id (`C-12`).
    pub id: i64,
    /// Full name.
    pub name: String,
    /// Company, if any.
    pub company_id: Option<i64>,
    /// Company name, joined.
    pub company_name: Option<String>,
    /// Owner.
    pub owner_id: i64,
    /// Email, lowercased.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Birth year, when known.
    pub birthday_year: Option<i32>,
    /// Birth month.
    pub birthday_month: Option<i16>,
    /// Birth day.
    pub birthday_day: Option<i16>,
    /// Lowercased tags.
    pub tags: Vec<String>,
    /// Last logged interaction.
    pub last_activity_at: Option<DateTime<Utc>>,
}

/// Fields of a new contact.
#[derive(Clone, Debug)]
pub struct NewContact {
    /// Full name.
    pub name: String,
    /// Company.
    pub company_id: Option<i64>,
    /// Owner.
    pub owner_id: i64,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Birthday as (year, month, day).
    pub birthday: Option<(Option<i32>, u32, u32)>,
    /// Tags.
    pub tags: Vec<String>,
}

pub(super) const CONTACT_SELECT: &str = "SELECT c.id, c.name, c.company_id, co.name AS company_name, c.owner_id, c.email, c.phone,
        c.title, c.birthday_year, c.birthday_month, c.birthday_day, c.tags,
        (SELECT max(a.happened_at) FROM activities a WHERE a.workspace_id = c.workspace_id AND a.contact_id = c.id)
            AS last_activity_at
     FROM contacts c
     LEFT JOIN companies co ON co.workspace_id = c.workspace_id AND co.id = c.company_id";

/// What a contact search matches ($4 the text, $6 `%text%` escaped): the list and its count.
/// Every branch is one index (the name's and the email's trigrams, the tags, and the contacts
/// of the companies whose name matches, found first as an array), so the planner ORs bitmaps
/// of the matches instead of scanning the workspace. The tags' index holds tagged contacts
/// only: its condition (`tags <> '{}'`) must be in the branch for the planner to use it.
const CONTACT_FIND: &str =
    "(lower(c.name) LIKE $6 OR lower(c.email) LIKE $6 OR (c.tags @> ARRAY[lower($4)] AND c.tags <> '{}')
        OR c.company_id = ANY (ARRAY(SELECT y.id FROM companies y
                                     WHERE y.workspace_id = $1 AND lower(y.name) LIKE $6)))";

/// How many contacts a search shows.
pub const CONTACT_FIND_LIMIT: i64 = 15;

/// How far a search counts its matches ([`Tx::count_found_contacts`]).
pub const CONTACT_COUNT_CAP: i64 = 1_000;

const COMPANY_SELECT: &str =
    "SELECT id, name, owner_id, industry, tier, website, tags, contract_end FROM companies co";

/// Whether the company `co` is visible to the member in `$3` (NULL: everyone's visible): a
/// rep under `visibility own` sees the accounts they own, those they hold a contact or a deal
/// at, and the team's accounts (owned by a manager or admin); never another rep's.
pub(super) const COMPANY_VISIBLE: &str = "($3::bigint IS NULL OR co.owner_id = $3
        OR EXISTS (SELECT 1 FROM members o WHERE o.workspace_id = co.workspace_id AND o.user_id = co.owner_id
                   AND o.role IN ('manager', 'admin'))
        OR EXISTS (SELECT 1 FROM contacts c WHERE c.workspace_id = co.workspace_id AND c.company_id = co.id AND c.owner_id = $3)
        OR EXISTS (SELECT 1 FROM deals d WHERE d.workspace_id = co.workspace_id AND d.company_id = co.id AND d.owner_id = $3))";

/// Binds the parameters the contact statements here share: $1 workspace, $2 owner (`None`:
/// everyone's), $3 a contact id, $4 the text typed, $5 it as a prefix pattern, $6 as an
/// anywhere pattern ([`CONTACT_FIND`]).
macro_rules! bind_contact_params {
    ($query:expr, $ws:expr, $owner:expr, $id:expr, $text:expr) => {
        $query
            .bind($ws)
            .bind($owner)
            .bind($id)
            .bind($text)
            .bind(like_prefix($text))
            .bind(format!("%{}", like_prefix($text)))
    };
}

/// Escapes LIKE wildcards so a typed `%` or `_` matches itself.
pub(crate) fn like_prefix(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for ch in s.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}

impl Tx {
    /// Inserts a company and returns its id.
    pub async fn insert_company(&mut self, ws: i64, c: &NewCompany) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO companies (workspace_id, name, owner_id, industry, tier, website, tags, contract_end)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(ws)
        .bind(&c.name)
        .bind(c.owner_id)
        .bind(&c.industry)
        .bind(&c.tier)
        .bind(&c.website)
        .bind(&c.tags)
        .bind(c.contract_end)
        .fetch_one(self.conn())
        .await?)
    }

    /// A company by id, if visible (`owner`: see [`COMPANY_VISIBLE`]).
    pub async fn company(
        &mut self,
        ws: i64,
        id: i64,
        owner: Option<i64>,
    ) -> StoreResult<Option<CompanyRow>> {
        let sql = format!(
            "{COMPANY_SELECT} WHERE co.workspace_id = $1 AND co.id = $2 AND {COMPANY_VISIBLE}"
        );
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(id)
            .bind(owner)
            .fetch_optional(self.conn())
            .await?)
    }

    /// Visible companies whose name equals `name` (case-insensitively) or starts with it,
    /// exact matches first.
    pub async fn companies_by_name(
        &mut self,
        ws: i64,
        name: &str,
        owner: Option<i64>,
    ) -> StoreResult<Vec<CompanyRow>> {
        let sql = format!(
            "{COMPANY_SELECT} WHERE co.workspace_id = $1 AND lower(co.name) LIKE $2 AND {COMPANY_VISIBLE}
             ORDER BY (lower(co.name) = lower($4)) DESC, co.name LIMIT 6"
        );
        Ok(sqlx::query_as(&sql)
            .bind(ws)
            .bind(like_prefix(name))
            .bind(owner)
            .bind(name)
            .fetch_all(self.conn())
            .await?)
    }

    /// The names of the companies visible to `owner` (all when `None`), for a did-you-mean.
    pub async fn company_names(&mut self, ws: i64, owner: Option<i64>) -> StoreResult<Vec<String>> {
        let visible = COMPANY_VISIBLE.replace("$3", "$2");
        let sql = format!(
            "SELECT co.name FROM companies co WHERE co.workspace_id = $1 AND {visible} ORDER BY co.name LIMIT 5000"
        );
        Ok(sqlx::query_scalar(&sql)
            .bind(ws)
            .bind(owner)
            .fetch_all(self.conn())
            .await?)
    }

    /// Serializes the adds of one name or email in a workspace until the transaction ends,
    /// so a check for a duplicate and the insert after it cannot interleave with another's.
    pub async fn lock_name(&mut self, ws: i64, kind: &str, name: &str) -> StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::bigint::text || ':' || $2 || ':' || lower($3), 0))")
            .bind(ws)
            .bind(kind)
            .bind(name)
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// How many contacts and deals a company has, for its card; `owner` limits the counts to
    /// one owner's records when the caller may only see their own.
    pub async fn company_counts(
        &mut self,
        ws: i64,
        id: i64,
        owner: Option<i64>,
    ) -> StoreResult<(i64, i64, i64)> {
        Ok(sqlx::query_as(
            "SELECT (SELECT count(*) FROM contacts
                      WHERE workspace_id = $1 AND company_id = $2 AND ($3::bigint IS NULL OR owner_id = $3)),
                    (SELECT count(*) FROM deals
                      WHERE workspace_id = $1 AND company_id = $2 AND status = 'open'
                        AND ($3::bigint IS NULL OR owner_id = $3)),
                    (SELECT COALESCE(sum(amount_minor), 0)::bigint FROM deals
                      WHERE workspace_id = $1 AND company_id = $2 AND status = 'won'
                        AND ($3::bigint IS NULL OR owner_id = $3))",
        )
        .bind(ws)
        .bind(id)
        .bind(owner)
        .fetch_one(self.conn())
        .await?)
    }

    /// Inserts a contact and returns its id.
    pub async fn insert_contact(&mut self, ws: i64, c: &NewContact) -> StoreResult<i64> {
        let (year, month, day) = match c.birthday {
            Some((y, m, d)) => (y, Some(m as i16), Some(d as i16)),
            None => (None, None, None),
        };
        Ok(sqlx::query_scalar(
            "INSERT INTO contacts (workspace_id, name, company_id, owner_id, email, phone, title,
                                   birthday_year, birthday_month, birthday_day, tags)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(ws)
        .bind(&c.name)
        .bind(c.company_id)
        .bind(c.owner_id)
        .bind(&c.email)
        .bind(&c.phone)
        .bind(&c.title)
        .bind(year)
        .bind(month)
        .bind(day)
        .bind(&c.tags)
        .fetch_one(self.conn())
        .await?)
    }

    /// Contacts of the workspace (and of `owner`, when given) that pass `filter`. Every
    /// filter reads the same parameters: `$3` an id, `$4` the text as typed, `$5` it as a
    /// lower-case prefix pattern, `$6` as a pattern anywhere.
    async fn contacts_where(
        &mut self,
        filter: &str,
        ws: i64,
        owner: Option<i64>,
        id: Option<i64>,
        text: &str,
    ) -> StoreResult<Vec<ContactRow>> {
        let sql = format!(
            "{CONTACT_SELECT} WHERE c.workspace_id = $1 AND ($2::bigint IS NULL OR c.owner_id = $2) AND {filter}"
        );
        Ok(
            bind_contact_params!(sqlx::query_as(&sql), ws, owner, id, text)
                .fetch_all(self.conn())
                .await?,
        )
    }

    /// A contact by id, if visible (`owner` limits to one owner's contacts).
    pub async fn contact(
        &mut self,
        ws: i64,
        id: i64,
        owner: Option<i64>,
    ) -> StoreResult<Option<ContactRow>> {
        let found = self
            .contacts_where("c.id = $3", ws, owner, Some(id), "")
            .await?;
        Ok(found.into_iter().next())
    }

    /// Visible contacts with this email: one per owner at most, so more than one only for a
    /// reader who sees several reps' books.
    pub async fn contacts_by_email(
        &mut self,
        ws: i64,
        email: &str,
        owner: Option<i64>,
    ) -> StoreResult<Vec<ContactRow>> {
        let filter = "lower(c.email) = lower($4) ORDER BY c.id LIMIT 6";
        self.contacts_where(filter, ws, owner, None, email).await
    }

    /// Contacts whose name equals or starts with `name`, exact matches first.
    pub async fn contacts_by_name(
        &mut self,
        ws: i64,
        name: &str,
        owner: Option<i64>,
    ) -> StoreResult<Vec<ContactRow>> {
        let filter =
            "lower(c.name) LIKE $5 ORDER BY (lower(c.name) = lower($4)) DESC, c.name LIMIT 6";
        self.contacts_where(filter, ws, owner, None, name).await
    }

    /// Contacts matching a search over name, email, company and tags, and how many match in
    /// all, up to [`CONTACT_COUNT_CAP`] + 1 (past the cap means "more than the cap").
    ///
    /// The count comes first and picks the page's plan, since no one plan is fast for both:
    /// up to the cap, the matches are read through the trigram indexes and the first
    /// [`CONTACT_FIND_LIMIT`] by name (lower-cased, byte order) kept (the `|| ''` keeps the
    /// planner off the name index's order, which would walk most of the workspace to find a
    /// rare word). Past it, reading and sorting every match costs tens of milliseconds, so
    /// the page is the names that start with the text, then the other matches by name, found
    /// by walking the name index and stopping at the fifteenth (`IS TRUE` hides the condition
    /// from the bitmap indexes); that index includes every column the condition tests, so the
    /// walk reads no table rows (migration `contact_find_covering`). Measured in
    /// `benches/search.rs`.
    pub async fn find_contacts(
        &mut self,
        ws: i64,
        query: &str,
        owner: Option<i64>,
    ) -> StoreResult<(Vec<ContactRow>, i64)> {
        let total = self.count_found_contacts(ws, query, owner).await?;
        if total == 0 {
            return Ok((Vec::new(), 0));
        }
        // The page's ids first, then their companies and last activities: fifteen lookups,
        // not a join over every match.
        let page = if total > CONTACT_COUNT_CAP {
            // Names that start with the text first (a range of the name index), then the
            // other matches by walking the name index in order; the walk starts only if the
            // first part has fewer than fifteen (an Append under a LIMIT stops early).
            format!(
                "(SELECT c.id, 0 AS rank, lower(c.name) AS sort_name FROM contacts c
                  WHERE c.workspace_id = $1 AND ($2::bigint IS NULL OR c.owner_id = $2)
                    AND lower(c.name) LIKE $5
                  ORDER BY lower(c.name) USING ~<~, c.id LIMIT {CONTACT_FIND_LIMIT})
                 UNION ALL
                 (SELECT c.id, 1, lower(c.name) FROM contacts c
                  WHERE c.workspace_id = $1 AND ($2::bigint IS NULL OR c.owner_id = $2)
                    AND ({CONTACT_FIND}) IS TRUE AND lower(c.name) NOT LIKE $5
                  ORDER BY lower(c.name) USING ~<~, c.id LIMIT {CONTACT_FIND_LIMIT})
                 LIMIT {CONTACT_FIND_LIMIT}"
            )
        } else {
            format!(
                "SELECT c.id, 0 AS rank, lower(c.name) AS sort_name FROM contacts c
                 WHERE c.workspace_id = $1 AND ($2::bigint IS NULL OR c.owner_id = $2) AND {CONTACT_FIND}
                 ORDER BY (lower(c.name) || '') USING ~<~, c.id LIMIT {CONTACT_FIND_LIMIT}"
            )
        };
        let sql = format!(
            "WITH page AS ({page})
             {CONTACT_SELECT} JOIN page ON page.id = c.id
             WHERE c.workspace_id = $1 AND $3::bigint IS NULL
             ORDER BY page.rank, page.sort_name USING ~<~, c.id"
        );
        let rows = bind_contact_params!(sqlx::query_as(&sql), ws, owner, None::<i64>, query)
            .fetch_all(self.conn())
            .await?;
        Ok((rows, total))
    }

    /// How many contacts match a search in all ([`Tx::find_contacts`] shows the first 15),
    /// counted up to [`CONTACT_COUNT_CAP`] + 1: past the cap the exact number tells a person
    /// nothing more than "narrow it down", and a broad word would cost a visit to every match.
    async fn count_found_contacts(
        &mut self,
        ws: i64,
        query: &str,
        owner: Option<i64>,
    ) -> StoreResult<i64> {
        let sql = format!(
            "SELECT count(*) FROM (
                 SELECT 1 FROM contacts c
                 WHERE c.workspace_id = $1 AND ($2::bigint IS NULL OR c.owner_id = $2) AND {CONTACT_FIND}
                 LIMIT {}) found",
            CONTACT_COUNT_CAP + 1
        );
        // With the LIMIT the planner takes a broad word for a sequential scan that stops
        // early, but each row then searches the matching companies' ids one by one (a
        // parameter array is not hashed): 60 ms for a company word, against 3-6 ms through
        // the bitmap indexes. Only for this statement, and only for three characters or more:
        // a shorter text has no trigram, the indexes cannot narrow it, and a scan is right.
        let steer = query.chars().count() >= 3;
        if steer {
            // SET LOCAL needs a transaction block, which a read does not start by itself.
            self.open().await?;
            sqlx::query("SET LOCAL enable_seqscan = off")
                .execute(self.conn())
                .await?;
        }
        let found: i64 =
            bind_contact_params!(sqlx::query_scalar(&sql), ws, owner, None::<i64>, query)
                .fetch_one(self.conn())
                .await?;
        if steer {
            sqlx::query("SET LOCAL enable_seqscan = on")
                .execute(self.conn())
                .await?;
        }
        Ok(found)
    }

    /// Replaces a contact's tags.
    pub async fn set_contact_tags(&mut self, ws: i64, id: i64, tags: &[String]) -> StoreResult<()> {
        sqlx::query("UPDATE contacts SET tags = $3 WHERE workspace_id = $1 AND id = $2")
            .bind(ws)
            .bind(id)
            .bind(tags)
            .execute(self.conn())
            .await?;
        Ok(())
    }
}
