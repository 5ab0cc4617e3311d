//! What an import matches rows against: the workspace's members, stages, companies, contacts
//! and products, and the source's ids, loaded once and kept up to date as rows are written.
//! Every addition is journaled, so a batch whose transaction fails leaves no trace here.

use std::collections::{hash_map::Entry, HashMap, HashSet};

use chrono::{DateTime, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::import::{CellDate, Source};
use crate::domain::stage::{same_name, Stage, StageKind};
use sha2::{Digest, Sha256};

use crate::store::{
    ImportEntity, KnownCompany, KnownContact, MatchKeys, MemberRow, StoreResult, Tx,
};

/// Lower case letter by letter, as the database's `lower` has it (`str::to_lowercase` also
/// applies the final-sigma rule, which `lower` does not): the database finds records by these
/// keys (the migration `import_match_keys`).
fn lower(s: &str) -> String {
    // Most keys are ASCII, where both agree; a byte copy, not a char-by-char rebuild (which
    // was a sixth of the importer's CPU on the 100,000-deal benchmark).
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars().flat_map(char::to_lowercase).collect()
}

/// A name in the form names are matched in: lower case, inner whitespace one space.
pub fn name_key(name: &str) -> String {
    lower(&name.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A product name matched loosely: only letters and digits, so `GTX Pro` and `GTXPro` meet.
pub fn product_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// An email as contacts match by it: trimmed, lower case.
pub fn email_key(email: &str) -> String {
    lower(email.trim())
}

/// A website as companies match by it: no scheme, no `www.`, no path, port or trailing dot,
/// lower case. `None` when nothing host-like is left.
pub fn domain_key(website: &str) -> Option<String> {
    let w = lower(website.trim());
    let w = w.split_once("://").map_or(w.as_str(), |(_, rest)| rest);
    let w = w.rsplit_once('@').map_or(w, |(_, host)| host);
    let host = w.split(['/', '?', '#', ':']).next().unwrap_or_default();
    let host = host.trim_end_matches('.');
    let host = host.strip_prefix("www.").unwrap_or(host);
    (host.contains('.') && !host.is_empty()).then(|| host.to_string())
}

/// The name a source's ids are kept under.
pub fn source_name(source: Source) -> &'static str {
    match source {
        Source::Salesforce => "salesforce",
        Source::Pipedrive => "pipedrive",
        Source::Hubspot => "hubspot",
        Source::Zoho => "zoho",
        Source::Salesbot => "salesbot",
        Source::Other => "file",
    }
}

/// Contacts of one name at several companies, where a row did not say which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ambiguous;

/// One thing a batch added that only the journal can take out again.
enum Journal {
    Product(String),
    Seen(ImportEntity, u128),
}

/// Where the journal and the batches stood after a batch was written: kept once it commits.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    journal: usize,
    batch: u64,
}

/// The records an import created, by table, in ascending order: 8 bytes each, where a hash set
/// of (table, id) took 17 to 34 (an import of a 100 MB file creates a million records).
#[derive(Default)]
struct Created([Vec<i64>; 5]);

impl Created {
    fn add(&mut self, entity: ImportEntity, ids: &[i64]) {
        let list = &mut self.0[entity as usize];
        let ascending = ids.windows(2).all(|w| w[0] < w[1])
            && list
                .last()
                .is_none_or(|last| ids.first().is_none_or(|first| first > last));
        list.extend_from_slice(ids);
        // Identities grow, so this is rare: a sequence that caches values per connection
        // hands the import's two connections interleaved ranges.
        if !ascending {
            list.sort_unstable();
            list.dedup();
        }
    }

    fn contains(&self, entity: ImportEntity, id: i64) -> bool {
        self.0[entity as usize].binary_search(&id).is_ok()
    }
}

/// The source's records an import already handled, so that a row repeated in a file collapses
/// into the first: 16 bytes of SHA-256 of each key, by table. An import of a 100 MB file
/// handles about a million; two keys of a million meet with a chance of about 10^-27, where
/// the keys themselves took 70 to 100 bytes each.
#[derive(Default)]
struct Seen([HashSet<u128>; 5]);

impl Seen {
    fn digest(key: &str) -> u128 {
        let d = Sha256::digest(key.as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&d[..16]);
        u128::from_le_bytes(first)
    }
}

/// A record held in memory: `batch` is the last batch that read or wrote it.
struct Held<T> {
    rec: T,
    batch: u64,
}

/// The workspace as an import sees it. Members, stages and products are few and held whole;
/// companies, contacts and the source's ids are looked up for each batch (only what its rows
/// could match) and held while a batch that may still be committing touched them: the
/// memory an import takes depends on its batch size, not on the file's or workspace's size.
pub struct World {
    pub ws: i64,
    pub tz: Tz,
    pub currency: String,
    pub stages: Vec<Stage>,
    pub members: Vec<MemberRow>,
    /// Display name key -> user id; the first member of a name wins, as in the table's order.
    member_by_name: HashMap<String, i64>,
    pub source: &'static str,
    /// The tables the source had ids in before this import began: where it had none, a row
    /// this import did not meet yet cannot match by its own id.
    earlier: [bool; 5],
    companies: HashMap<i64, Held<KnownCompany>>,
    company_by_domain: HashMap<String, i64>,
    company_by_name: HashMap<String, i64>,
    contacts: HashMap<i64, Held<KnownContact>>,
    contact_by_email: HashMap<String, i64>,
    contact_by_name: HashMap<(String, Option<i64>), i64>,
    /// Name key -> the contact of that name, whatever their company; `None` when contacts of
    /// that name are at more than one company (or at one and at none).
    contact_by_bare_name: HashMap<String, Option<i64>>,
    /// Product key -> (id, list price).
    products: HashMap<String, (i64, i64)>,
    /// (table, the source's id) -> record id.
    ext: HashMap<(ImportEntity, String), Held<i64>>,
    seen: Seen,
    /// Deal number -> id, of the numbers the batch names.
    deal_numbers: HashMap<i64, i64>,
    /// The activity ids of the workspace's own export the batch names that it has.
    activities: std::collections::HashSet<i64>,
    /// Not journaled: a batch that did not commit took its records with it, and their ids
    /// are never handed out again.
    created: Created,
    journal: Vec<Journal>,
    /// The batch being written, counted from 1.
    batch: u64,
    /// Every batch up to this one committed: what they wrote any transaction reads.
    kept: u64,
}

impl World {
    /// Loads what the workspace holds of members, stages and products.
    pub async fn load(
        tx: &mut Tx,
        ws: i64,
        tz: Tz,
        currency: String,
        source: Source,
    ) -> StoreResult<World> {
        let stages = tx
            .stages(ws)
            .await?
            .into_iter()
            .map(|s| s.into_stage())
            .collect();
        let members = tx.members(ws).await?;
        let products = tx
            .products(ws)
            .await?
            .into_iter()
            .map(|p| (product_key(&p.name), (p.id, p.list_price_minor)))
            .collect();
        let source = source_name(source);
        let mut earlier = [false; 5];
        for entity in tx.external_id_entities(ws, source).await? {
            earlier[entity as usize] = true;
        }
        let mut member_by_name = HashMap::new();
        for m in &members {
            member_by_name
                .entry(name_key(&m.display_name))
                .or_insert(m.user_id);
        }
        Ok(World {
            ws,
            tz,
            currency,
            stages,
            members,
            member_by_name,
            source,
            earlier,
            companies: HashMap::new(),
            company_by_domain: HashMap::new(),
            company_by_name: HashMap::new(),
            contacts: HashMap::new(),
            contact_by_email: HashMap::new(),
            contact_by_name: HashMap::new(),
            contact_by_bare_name: HashMap::new(),
            products,
            ext: HashMap::new(),
            seen: Seen::default(),
            deal_numbers: HashMap::new(),
            activities: Default::default(),
            created: Created::default(),
            journal: Vec::new(),
            batch: 0,
            kept: 0,
        })
    }

    /// Whether the source had ids in this table before the import began: where it had none,
    /// a row's own id can only match a record this import met (and the row collapses).
    pub fn had_ids(&self, entity: ImportEntity) -> bool {
        self.earlier[entity as usize]
    }

    /// Whether this import already handled the source's record.
    pub fn met(&self, entity: ImportEntity, id: &str) -> bool {
        self.seen.0[entity as usize].contains(&Seen::digest(id))
    }

    /// Starts a batch: lets go of what only committed batches touched (any transaction reads
    /// it now) and looks up what the batch's rows could match. What a batch still committing
    /// wrote stays as it is here: the database shows it only once that batch committed.
    pub async fn begin_batch(&mut self, tx: &mut Tx, keys: &MatchKeys) -> StoreResult<()> {
        self.batch += 1;
        let kept = self.kept;
        self.companies.retain(|_, h| h.batch > kept);
        self.contacts.retain(|_, h| h.batch > kept);
        self.ext.retain(|_, h| h.batch > kept);
        let found = tx.import_matches(self.ws, self.source, keys).await?;
        let batch = self.batch;
        for (entity, id, record) in found.ext {
            self.ext
                .entry((entity, id))
                .or_insert(Held { rec: record, batch });
        }
        for c in found.companies {
            self.companies.entry(c.id).or_insert(Held { rec: c, batch });
        }
        // Activities name deals an earlier import, or a batch that committed, brought.
        self.deal_numbers = found.deals.into_iter().collect();
        self.activities = found.activities.into_iter().collect();
        for c in found.contacts {
            self.contacts.entry(c.id).or_insert(Held { rec: c, batch });
        }
        self.reindex();
        Ok(())
    }

    /// Indexes the held companies and contacts again; of records with the same key, the
    /// oldest wins (an import matches it, as it would have before it created the others).
    fn reindex(&mut self) {
        self.company_by_domain.clear();
        self.company_by_name.clear();
        self.contact_by_email.clear();
        self.contact_by_name.clear();
        self.contact_by_bare_name.clear();
        let mut ids: Vec<i64> = self.companies.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let c = &self.companies[&id].rec;
            if let Some(d) = c.website.as_deref().and_then(domain_key) {
                self.company_by_domain.entry(d).or_insert(id);
            }
            self.company_by_name.entry(name_key(&c.name)).or_insert(id);
        }
        let mut ids: Vec<i64> = self.contacts.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let c = &self.contacts[&id].rec;
            if let Some(e) = c.email.as_deref().map(email_key) {
                self.contact_by_email.entry(e).or_insert(id);
            }
            let (name, company) = (name_key(&c.name), c.company_id);
            self.index_contact_name(name, company, id);
        }
    }

    /// Indexes a contact's name within their company and on its own; of contacts with the same
    /// name and company, the first indexed stands for them.
    fn index_contact_name(&mut self, name: String, company: Option<i64>, id: i64) {
        if let Entry::Vacant(v) = self.contact_by_name.entry((name.clone(), company)) {
            v.insert(id);
            self.contact_by_bare_name
                .entry(name)
                .and_modify(|one| *one = None)
                .or_insert(Some(id));
        }
    }

    /// Forgets the journal: every batch written so far committed.
    pub fn keep(&mut self) {
        self.journal.clear();
        self.kept = self.batch;
    }

    /// Where the journal and batches stand: what the batches written so far added, for
    /// [`World::keep_to`].
    pub fn mark(&self) -> Mark {
        Mark {
            journal: self.journal.len(),
            batch: self.batch,
        }
    }

    /// Keeps what was added up to `mark` (a batch that committed while the next one was
    /// already being written); what came after can still be taken out with `forget`.
    pub fn keep_to(&mut self, mark: Mark) {
        self.journal.drain(..mark.journal.min(self.journal.len()));
        self.kept = self.kept.max(mark.batch);
    }

    /// Takes out everything the batches that did not commit added or changed: records they
    /// touched are looked up again by the next batch.
    pub fn forget(&mut self) {
        while let Some(j) = self.journal.pop() {
            match j {
                Journal::Seen(e, key) => {
                    self.seen.0[e as usize].remove(&key);
                }
                Journal::Product(key) => {
                    self.products.remove(&key);
                }
            }
        }
        let kept = self.kept;
        self.companies.retain(|_, h| h.batch <= kept);
        self.contacts.retain(|_, h| h.batch <= kept);
        self.ext.retain(|_, h| h.batch <= kept);
        self.reindex();
    }

    pub fn index_company(&mut self, c: KnownCompany) {
        let id = c.id;
        if let Some(d) = c.website.as_deref().and_then(domain_key) {
            self.company_by_domain.entry(d).or_insert(id);
        }
        self.company_by_name.entry(name_key(&c.name)).or_insert(id);
        let batch = self.batch;
        self.companies.insert(id, Held { rec: c, batch });
    }

    pub fn index_contact(&mut self, c: KnownContact) {
        let id = c.id;
        if let Some(e) = c.email.as_deref().map(email_key) {
            self.contact_by_email.entry(e).or_insert(id);
        }
        self.index_contact_name(name_key(&c.name), c.company_id, id);
        let batch = self.batch;
        self.contacts.insert(id, Held { rec: c, batch });
    }

    /// A held company, to change: it stays held until this batch committed.
    pub fn company_mut(&mut self, id: i64) -> Option<&mut KnownCompany> {
        let batch = self.batch;
        self.companies.get_mut(&id).map(|h| {
            h.batch = batch;
            &mut h.rec
        })
    }

    /// A held contact, to change: it stays held until this batch committed.
    pub fn contact_mut(&mut self, id: i64) -> Option<&mut KnownContact> {
        let batch = self.batch;
        self.contacts.get_mut(&id).map(|h| {
            h.batch = batch;
            &mut h.rec
        })
    }

    /// A company by the source's id, its domain or its name, in that order.
    pub fn company(
        &self,
        ext: Option<&str>,
        domain: Option<&str>,
        name: Option<&str>,
    ) -> Option<&KnownCompany> {
        let held = |id: &i64| self.companies.get(id).map(|h| &h.rec);
        if let Some(c) = ext
            .and_then(|e| self.external(ImportEntity::Company, e))
            .and_then(|id| held(&id))
        {
            return Some(c);
        }
        if let Some(c) = domain
            .and_then(domain_key)
            .and_then(|d| self.company_by_domain.get(&d))
            .and_then(held)
        {
            return Some(c);
        }
        name.and_then(|n| self.company_by_name.get(&name_key(n)))
            .and_then(held)
    }

    /// A contact by the source's id, its email, or its name within a company.
    pub fn contact(
        &self,
        ext: Option<&str>,
        email: Option<&str>,
        name: Option<&str>,
        company: Option<i64>,
    ) -> Option<&KnownContact> {
        let held = |id: &i64| self.contacts.get(id).map(|h| &h.rec);
        if let Some(c) = ext
            .and_then(|e| self.external(ImportEntity::Contact, e))
            .and_then(|id| held(&id))
        {
            return Some(c);
        }
        if let Some(e) = email {
            return self.contact_by_email.get(&email_key(e)).and_then(held);
        }
        name.and_then(|n| self.contact_by_name.get(&(name_key(n), company)))
            .and_then(held)
    }

    /// The contact a name alone names, whatever their company, for a row that does not say
    /// which company (an activity log without a company column). `Err` when contacts of that
    /// name are at more than one company, or at one and at none: the row must say which, and
    /// is never matched by a guess.
    pub fn contact_by_name_alone(&self, name: &str) -> Result<Option<&KnownContact>, Ambiguous> {
        match self.contact_by_bare_name.get(&name_key(name)) {
            None => Ok(None),
            Some(Some(id)) => Ok(self.contacts.get(id).map(|h| &h.rec)),
            Some(None) => Err(Ambiguous),
        }
    }

    /// A product's id and list price.
    pub fn product(&self, name: &str) -> Option<(i64, i64)> {
        self.products.get(&product_key(name)).copied()
    }

    pub fn add_product(&mut self, name: &str, id: i64, price: i64) {
        let key = product_key(name);
        self.products.insert(key.clone(), (id, price));
        self.journal.push(Journal::Product(key));
    }

    /// The record a source's id came in as, by this import or an earlier one.
    pub fn external(&self, entity: ImportEntity, id: &str) -> Option<i64> {
        self.ext.get(&(entity, id.to_string())).map(|h| h.rec)
    }

    pub fn add_external(&mut self, entity: ImportEntity, id: &str, record: i64) {
        let batch = self.batch;
        self.ext
            .insert((entity, id.to_string()), Held { rec: record, batch });
    }

    /// Notes records this import created.
    pub fn add_created(&mut self, entity: ImportEntity, ids: &[i64]) {
        self.created.add(entity, ids);
    }

    /// Whether this import created the record.
    pub fn created(&self, entity: ImportEntity, id: i64) -> bool {
        self.created.contains(entity, id)
    }

    /// Whether this import already handled the source's record; marks it handled.
    pub fn first_sight(&mut self, entity: ImportEntity, id: &str) -> bool {
        let key = Seen::digest(id);
        let fresh = self.seen.0[entity as usize].insert(key);
        if fresh {
            self.journal.push(Journal::Seen(entity, key));
        }
        fresh
    }

    /// A member by user id or by display name.
    pub fn member(&self, who: &str) -> Option<i64> {
        let who = who.trim();
        if let Ok(id) = who.parse::<i64>() {
            if let Some(m) = self.members.iter().find(|m| m.user_id == id) {
                return Some(m.user_id);
            }
        }
        self.member_by_name.get(&name_key(who)).copied()
    }

    /// A stage by name.
    pub fn stage_named(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| same_name(&s.name, name))
    }

    /// The first stage of the given kind, by position.
    pub fn first_of(&self, kind: StageKind) -> Option<&Stage> {
        self.stages
            .iter()
            .filter(|s| s.kind == kind)
            .min_by_key(|s| s.position)
    }

    /// A deal's id by its number (activities from salesbot's own export name their deal so),
    /// of the numbers the batch names.
    pub fn deal_by_number(&self, number: i64) -> Option<i64> {
        self.deal_numbers.get(&number).copied()
    }

    /// Whether the workspace has this activity, of the ids the batch names (its own export's).
    pub fn has_activity(&self, id: i64) -> bool {
        self.activities.contains(&id)
    }

    /// A date cell as an instant: a calendar day is its midnight in the workspace's zone.
    pub fn instant(&self, date: CellDate) -> Option<DateTime<Utc>> {
        match date {
            CellDate::Instant(at) => Some(at),
            CellDate::Day(day) => self.local(day.and_hms_opt(0, 0, 0)?),
            CellDate::Local(at) => self.local(at),
        }
    }

    /// A date cell as a calendar day in the workspace's zone.
    pub fn day(&self, date: CellDate) -> NaiveDate {
        match date {
            CellDate::Day(day) => day,
            CellDate::Local(at) => at.date(),
            CellDate::Instant(at) => at.with_timezone(&self.tz).date_naive(),
        }
    }

    fn local(&self, at: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.tz.from_local_datetime(&at) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
            // A time that does not exist locally (the spring-forward hour) is read an hour on.
            LocalResult::None => match self
                .tz
                .from_local_datetime(&(at + chrono::Duration::hours(1)))
            {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                    Some(t.with_timezone(&Utc))
                }
                LocalResult::None => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_lose_scheme_www_and_path() {
        assert_eq!(
            domain_key("https://www.Acme.com/about"),
            Some("acme.com".into())
        );
        assert_eq!(domain_key("acme.com."), Some("acme.com".into()));
        assert_eq!(
            domain_key("http://shop.acme.co.uk:8080"),
            Some("shop.acme.co.uk".into())
        );
        assert_eq!(domain_key("n/a"), None);
        assert_eq!(domain_key(""), None);
    }

    #[test]
    fn created_records_are_found_whatever_order_their_ids_came_in() {
        let mut c = Created::default();
        c.add(ImportEntity::Deal, &[10, 11, 12]);
        c.add(ImportEntity::Deal, &[20, 21]);
        c.add(ImportEntity::Contact, &[11]);
        // A range handed to the other connection earlier, and one out of order inside.
        c.add(ImportEntity::Deal, &[15, 13, 14]);
        for id in [10, 11, 12, 13, 14, 15, 20, 21] {
            assert!(c.contains(ImportEntity::Deal, id), "{id}");
        }
        for id in [9, 16, 19, 22] {
            assert!(!c.contains(ImportEntity::Deal, id), "{id}");
        }
        assert!(c.contains(ImportEntity::Contact, 11));
        assert!(!c.contains(ImportEntity::Contact, 10));
        assert!(!c.contains(ImportEntity::Company, 11));
    }

    #[test]
    fn names_and_products_match_loosely() {
        assert_eq!(name_key("  Acme   Corp "), "acme corp");
        assert_eq!(product_key("GTX Pro"), product_key("GTXPro"));
        assert_eq!(email_key(" Ana@Example.COM "), "ana@example.com");
    }
}
