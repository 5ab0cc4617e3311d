//! What an import matches rows against: the workspace's members, stages, companies, contacts
//! and products, and the source's ids, loaded once and kept up to date as rows are written.
//! Every addition is journaled, so a batch whose transaction fails leaves no trace here.

use std::collections::HashMap;

use chrono::{DateTime, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::import::{CellDate, Source};
use crate::domain::stage::{same_name, Stage, StageKind};
use crate::store::{ImportEntity, KnownCompany, KnownContact, MemberRow, StoreResult, Tx};

/// A name in the form names are matched in: lower case, inner whitespace one space.
pub fn name_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
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
    email.trim().to_lowercase()
}

/// A website as companies match by it: no scheme, no `www.`, no path, port or trailing dot,
/// lower case. `None` when nothing host-like is left.
pub fn domain_key(website: &str) -> Option<String> {
    let w = website.trim().to_lowercase();
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

/// One thing a batch added, so it can be taken out again.
enum Journal {
    Ext(ImportEntity, String),
    Company(usize),
    Contact(usize),
    Product(String),
    Seen(ImportEntity, String),
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

/// The workspace as an import sees it.
pub struct World {
    pub ws: i64,
    pub tz: Tz,
    pub currency: String,
    pub stages: Vec<Stage>,
    pub members: Vec<MemberRow>,
    /// Display name key -> user id; the first member of a name wins, as in the table's order.
    member_by_name: HashMap<String, i64>,
    pub source: &'static str,
    pub companies: Vec<KnownCompany>,
    company_by_domain: HashMap<String, usize>,
    company_by_name: HashMap<String, usize>,
    company_by_id: HashMap<i64, usize>,
    pub contacts: Vec<KnownContact>,
    contact_by_email: HashMap<String, usize>,
    contact_by_name: HashMap<(String, Option<i64>), usize>,
    contact_by_id: HashMap<i64, usize>,
    /// Product key -> (id, list price).
    products: HashMap<String, (i64, i64)>,
    /// (table, the source's id) -> record id.
    ext: HashMap<(ImportEntity, String), i64>,
    /// Records this import already wrote or matched, by the source's id: a row repeated in a
    /// file collapses into the first.
    seen: std::collections::HashSet<(ImportEntity, String)>,
    deal_numbers: Option<HashMap<i64, i64>>,
    /// Not journaled: a batch that did not commit took its records with it, and their ids
    /// are never handed out again.
    created: Created,
    journal: Vec<Journal>,
}

impl World {
    /// Loads what the workspace holds.
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
        let companies = tx.known_companies(ws).await?;
        let contacts = tx.known_contacts(ws).await?;
        let products = tx
            .products(ws)
            .await?
            .into_iter()
            .map(|p| (product_key(&p.name), (p.id, p.list_price_minor)))
            .collect();
        let source = source_name(source);
        let mut ext = HashMap::new();
        for (table, id, record) in tx.external_ids(ws, source).await? {
            let entity = match table.as_str() {
                "companies" => ImportEntity::Company,
                "contacts" => ImportEntity::Contact,
                "deals" => ImportEntity::Deal,
                "activities" => ImportEntity::Activity,
                _ => ImportEntity::Product,
            };
            ext.insert((entity, id), record);
        }
        let mut member_by_name = HashMap::new();
        for m in &members {
            member_by_name
                .entry(name_key(&m.display_name))
                .or_insert(m.user_id);
        }
        let mut world = World {
            ws,
            tz,
            currency,
            stages,
            members,
            member_by_name,
            source,
            companies: Vec::new(),
            company_by_domain: HashMap::new(),
            company_by_name: HashMap::new(),
            company_by_id: HashMap::new(),
            contacts: Vec::new(),
            contact_by_email: HashMap::new(),
            contact_by_name: HashMap::new(),
            contact_by_id: HashMap::new(),
            products,
            ext,
            seen: Default::default(),
            deal_numbers: None,
            created: Default::default(),
            journal: Vec::new(),
        };
        for c in companies {
            world.index_company(c);
        }
        for c in contacts {
            world.index_contact(c);
        }
        world.journal.clear();
        Ok(world)
    }

    /// Forgets the journal: the batch is committed.
    pub fn keep(&mut self) {
        self.journal.clear();
    }

    /// Where the journal stands: what a batch written so far added, for [`World::keep_to`].
    pub fn mark(&self) -> usize {
        self.journal.len()
    }

    /// Keeps what was added up to `mark` (a batch that committed while the next one was
    /// already being written); what came after can still be taken out with `forget`.
    pub fn keep_to(&mut self, mark: usize) {
        self.journal.drain(..mark.min(self.journal.len()));
    }

    /// Takes out everything the failed batch added.
    pub fn forget(&mut self) {
        while let Some(j) = self.journal.pop() {
            match j {
                Journal::Ext(e, id) => {
                    self.ext.remove(&(e, id));
                }
                Journal::Seen(e, id) => {
                    self.seen.remove(&(e, id));
                }
                Journal::Product(key) => {
                    self.products.remove(&key);
                }
                Journal::Company(i) => {
                    let c = self.companies.remove(i);
                    self.company_by_id.remove(&c.id);
                    if let Some(d) = c.website.as_deref().and_then(domain_key) {
                        if self.company_by_domain.get(&d) == Some(&i) {
                            self.company_by_domain.remove(&d);
                        }
                    }
                    let k = name_key(&c.name);
                    if self.company_by_name.get(&k) == Some(&i) {
                        self.company_by_name.remove(&k);
                    }
                }
                Journal::Contact(i) => {
                    let c = self.contacts.remove(i);
                    self.contact_by_id.remove(&c.id);
                    if let Some(e) = c.email.as_deref().map(email_key) {
                        if self.contact_by_email.get(&e) == Some(&i) {
                            self.contact_by_email.remove(&e);
                        }
                    }
                    let k = (name_key(&c.name), c.company_id);
                    if self.contact_by_name.get(&k) == Some(&i) {
                        self.contact_by_name.remove(&k);
                    }
                }
            }
        }
    }

    pub fn index_company(&mut self, c: KnownCompany) {
        let i = self.companies.len();
        if let Some(d) = c.website.as_deref().and_then(domain_key) {
            self.company_by_domain.entry(d).or_insert(i);
        }
        self.company_by_name.entry(name_key(&c.name)).or_insert(i);
        self.company_by_id.insert(c.id, i);
        self.companies.push(c);
        self.journal.push(Journal::Company(i));
    }

    pub fn index_contact(&mut self, c: KnownContact) {
        let i = self.contacts.len();
        if let Some(e) = c.email.as_deref().map(email_key) {
            self.contact_by_email.entry(e).or_insert(i);
        }
        self.contact_by_name
            .entry((name_key(&c.name), c.company_id))
            .or_insert(i);
        self.contact_by_id.insert(c.id, i);
        self.contacts.push(c);
        self.journal.push(Journal::Contact(i));
    }

    /// A company by the source's id, its domain or its name, in that order.
    pub fn company(
        &self,
        ext: Option<&str>,
        domain: Option<&str>,
        name: Option<&str>,
    ) -> Option<usize> {
        if let Some(id) = ext.and_then(|e| self.ext.get(&(ImportEntity::Company, e.to_string()))) {
            if let Some(i) = self.company_by_id.get(id) {
                return Some(*i);
            }
        }
        if let Some(i) = domain
            .and_then(domain_key)
            .and_then(|d| self.company_by_domain.get(&d))
        {
            return Some(*i);
        }
        name.and_then(|n| self.company_by_name.get(&name_key(n)).copied())
    }

    /// A contact by the source's id, its email, or its name within a company.
    pub fn contact(
        &self,
        ext: Option<&str>,
        email: Option<&str>,
        name: Option<&str>,
        company: Option<i64>,
    ) -> Option<usize> {
        if let Some(id) = ext.and_then(|e| self.ext.get(&(ImportEntity::Contact, e.to_string()))) {
            if let Some(i) = self.contact_by_id.get(id) {
                return Some(*i);
            }
        }
        if let Some(e) = email {
            return self.contact_by_email.get(&email_key(e)).copied();
        }
        name.and_then(|n| self.contact_by_name.get(&(name_key(n), company)).copied())
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
        self.ext.get(&(entity, id.to_string())).copied()
    }

    pub fn add_external(&mut self, entity: ImportEntity, id: &str, record: i64) {
        if self.ext.insert((entity, id.to_string()), record).is_none() {
            self.journal.push(Journal::Ext(entity, id.to_string()));
        }
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
        let fresh = self.seen.insert((entity, id.to_string()));
        if fresh {
            self.journal.push(Journal::Seen(entity, id.to_string()));
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

    /// A deal's id by its number (activities from salesbot's own export name their deal so).
    pub async fn deal_by_number(&mut self, tx: &mut Tx, number: i64) -> StoreResult<Option<i64>> {
        if self.deal_numbers.is_none() {
            self.deal_numbers = Some(tx.deal_numbers(self.ws).await?.into_iter().collect());
        }
        Ok(self
            .deal_numbers
            .as_ref()
            .and_then(|m| m.get(&number).copied()))
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
