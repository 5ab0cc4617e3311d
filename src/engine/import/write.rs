//! Writing one batch of rows of one kind: each row is matched (the source's id, then email,
//! domain or name), checked, and either refused with its line and column, counted as matched,
//! queued as new (written a table at a time) or updated where the file has a value that
//! differs (a blank cell never overwrites).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use super::world::{email_key, name_key, World};
use super::{FileSummary, Flight, ImportRequest};
use crate::domain::import::{Cell, CellDate, Field, Kind, Outcome, Row, Source};
use crate::domain::refs::{
    DealRef, Email, MAX_NAME_CHARS, MAX_TAGS, MAX_TAG_CHARS, MAX_TITLE_CHARS,
};
use crate::domain::stage::{Stage, StageKind};
use crate::i18n::Msg;
use crate::store::{
    ActivityColumns, ChangeColumns, CompanyColumns, CompanyUpdates, ContactColumns, ContactUpdates,
    DealColumns, DealMoves, DealSlots, DealUpdates, ImportEntity, KnownCompany, KnownContact,
    LineColumns, MatchKeys, Store, StoreResult, Tx,
};

/// `[created, updated, matched]`.
type Counts = [u64; 3];

/// A contact's job title, as long as `/contact add title:` takes.
const MAX_JOB_TITLE_CHARS: usize = 100;

/// Why a row is refused: the column (its header) and the reason.
struct Refuse(Field, Msg);

/// A name or note the text rules refuse, in words.
fn text_problem(e: crate::domain::text::TextError) -> Msg {
    use crate::domain::text::TextError;
    Msg::new(match e {
        TextError::Empty => "problem.empty",
        TextError::Invisible => "problem.invisible",
        TextError::Hidden => "problem.hidden_chars",
        TextError::Control => "problem.control_chars",
    })
}

/// What a batch writes that nothing later in the import reads: new deals with their history,
/// lines and rollups, and the new records' place on the import. A pipelined batch writes it
/// while the next batch's records go in on another connection; otherwise it is written right
/// after the rest, in the same transaction either way. New deals are here (their numbers and
/// ids taken beforehand) because they are most of a deals file's writing, and the source's
/// ids of new records are not (they go in with the records). With all of them here, this
/// half was the slower by about a third on the 100,000-deal benchmark, and the slower half
/// sets the pace; so a share of the new deals, found as the import runs
/// (`Session::rebalance`), goes in with the records instead (a quarter on the benchmark).
#[derive(Default)]
pub(super) struct Later {
    /// New deals, their numbers and ids, and the workspace's currency they are in; they go in
    /// with their history and lines with the rollup triggers aside, and their totals are
    /// added from these values.
    deal_slots: DealSlots,
    deal_columns: DealColumns,
    currency: String,
    changes: ChangeColumns,
    lines: LineColumns,
    /// How many of the new deals (the first ones) already went in with the batch's records.
    head_deals: usize,
    /// Records created, listed on the import with no image before.
    created: Vec<(ImportEntity, Vec<i64>)>,
}

impl Later {
    /// The records the batch created.
    pub(super) fn created_records(&self) -> std::collections::HashSet<(ImportEntity, i64)> {
        self.created
            .iter()
            .flat_map(|(entity, ids)| ids.iter().map(move |id| (*entity, *id)))
            .collect()
    }

    /// Writes what the batch left for later. `rollups` is false in a dry run: its totals are
    /// rolled back anyway, and their rows, which live commands write too (open deals by owner
    /// and stage), would stay locked for as long as the preview runs. A rollup row holds
    /// about eighteen million deals at the amount cap, so only a total already near the limit
    /// (written before the cap was checked) could refuse a row the preview counted in.
    pub(super) async fn write(
        self,
        tx: &mut Tx,
        ws: i64,
        import: i64,
        rollups: bool,
    ) -> StoreResult<()> {
        if !self.deal_slots.ids.is_empty() {
            tx.defer_rollups(true).await?;
            let rows = self.head_deals..self.deal_columns.title.len();
            tx.insert_deals(
                ws,
                &self.currency,
                &self.deal_slots,
                &self.deal_columns,
                rows,
            )
            .await?;
            tx.insert_stage_changes(ws, &self.changes).await?;
            tx.insert_deal_lines(ws, &self.lines).await?;
            if rollups {
                tx.add_deal_rollups(
                    ws,
                    &self.deal_slots.ids,
                    &self.deal_columns,
                    &self.changes,
                    &self.lines,
                )
                .await?;
            }
            tx.defer_rollups(false).await?;
        }
        for (entity, ids) in &self.created {
            tx.record_import_created(ws, import, *entity, ids).await?;
        }
        Ok(())
    }
}

/// Where a batch writes: its transaction, what it leaves for later, the batch before it if
/// that one is still committing, and where new deals take their numbers.
pub(super) struct Target<'a> {
    pub tx: &'a mut Tx,
    pub later: &'a mut Later,
    pub before: &'a mut Flight,
    /// Numbers are taken apart from the batch's transaction (so that two batches in flight do
    /// not queue on the workspace's counter); `None` numbers them inside it past the counter,
    /// without taking it (a dry run, which must neither use any up nor hold the counter).
    pub numbers: Option<&'a Store>,
    /// The share of the batch's new deals written with its records rather than with its
    /// later writes (0 to 1), which balances the two halves of a pipelined import.
    pub deal_share: f64,
}

/// Writes one batch of one kind.
#[allow(clippy::too_many_arguments)]
pub(super) async fn rows(
    target: Target<'_>,
    world: &mut World,
    req: &ImportRequest,
    import: i64,
    kind: Kind,
    rows: &[Row],
    file: &mut FileSummary,
    now: DateTime<Utc>,
) -> StoreResult<Counts> {
    // Only new deals and the records they bring overlap with the batch before: every other
    // kind reads or changes records that batch may have written, which another transaction
    // sees only once it committed.
    if kind != Kind::Deals {
        target.before.settle(world).await?;
    }
    world
        .begin_batch(target.tx, &match_keys(world, kind, rows))
        .await?;
    let mut w = Writer {
        tx: target.tx,
        later: target.later,
        before: target.before,
        numbers: target.numbers,
        deal_share: target.deal_share,
        world,
        req,
        import,
        file,
        now,
        counts: [0; 3],
        headers: HashMap::new(),
        remembered: (Vec::new(), Vec::new()),
    };
    for (header, field) in &w.file.mapping {
        if let Some(f) = crate::domain::import::Field::from_name(field) {
            w.headers.insert(f, header.clone());
        }
    }
    match kind {
        Kind::Products => w.products(rows).await?,
        Kind::Companies => w.companies(rows).await?,
        Kind::Contacts => w.contacts(rows).await?,
        Kind::Deals => w.deals(rows).await?,
        Kind::Activities => w.activities(rows).await?,
    }
    Ok(w.counts)
}

/// What a batch's rows could match, read with the helpers the rows are written with: the
/// source's ids (a row's own only where it may name a record an earlier import brought),
/// company names and domains, contact emails and names, as keys. More than a row uses is
/// harmless.
fn match_keys(world: &World, kind: Kind, rows: &[Row]) -> MatchKeys {
    let own = match kind {
        Kind::Products => return MatchKeys::default(),
        Kind::Companies => ImportEntity::Company,
        Kind::Contacts => ImportEntity::Contact,
        Kind::Deals => ImportEntity::Deal,
        Kind::Activities => ImportEntity::Activity,
    };
    let mut ext: Vec<(&'static str, String)> = Vec::new();
    let mut keys = MatchKeys::default();
    for row in rows {
        if world.had_ids(own) {
            let id = match kind {
                Kind::Deals | Kind::Activities => Some(ext_id(world, row)),
                _ => source_id(world, row, Field::ExternalId),
            };
            if let Some(id) = id.filter(|id| !world.met(own, id)) {
                ext.push((own.table(), id));
            }
        }
        if let Some(account) = text(row, Field::CompanyId) {
            ext.push((ImportEntity::Company.table(), account.to_string()));
        }
        if own_file(world, row) {
            match kind {
                Kind::Deals => keys
                    .deal_numbers
                    .extend(text(row, Field::ExternalId).and_then(deal_number)),
                Kind::Activities => keys
                    .activity_ids
                    .extend(text(row, Field::ExternalId).and_then(|a| a.parse::<i64>().ok())),
                _ => {}
            }
        }
        if kind == Kind::Activities {
            if let Some(deal) = text(row, Field::Deal) {
                ext.extend(
                    source_id(world, row, Field::Deal).map(|d| (ImportEntity::Deal.table(), d)),
                );
                if number_names_deal(world, row) {
                    keys.deal_numbers.extend(deal_number(deal));
                }
            }
        }
        let domain = line_text(row, Field::Domain, 255)
            .ok()
            .flatten()
            .and_then(|w| super::domain_key(&w));
        match line_text(row, Field::Company, MAX_NAME_CHARS)
            .ok()
            .flatten()
        {
            Some(name) => keys.company_names.push(name_key(&name)),
            None if kind == Kind::Companies => {
                keys.company_names.extend(domain.as_deref().map(name_key))
            }
            None => {}
        }
        keys.domains.extend(domain);
        if kind != Kind::Companies {
            match email(row).ok().flatten() {
                Some(e) => keys.emails.push(email_key(&e)),
                None => keys
                    .contact_names
                    .extend(contact_name(row).ok().flatten().map(|n| name_key(&n))),
            }
        }
    }
    ext.sort_unstable();
    ext.dedup();
    (keys.ext_entities, keys.ext_ids) = ext.into_iter().unzip();
    keys.deal_numbers.sort_unstable();
    keys.deal_numbers.dedup();
    for list in [
        &mut keys.company_names,
        &mut keys.domains,
        &mut keys.emails,
        &mut keys.contact_names,
    ] {
        list.sort_unstable();
        list.dedup();
    }
    keys
}

/// A company or contact a row refers to: one that exists, or one this batch creates.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ref {
    Known(i64),
    New(usize),
}

struct Writer<'a> {
    tx: &'a mut Tx,
    later: &'a mut Later,
    before: &'a mut Flight,
    numbers: Option<&'a Store>,
    deal_share: f64,
    world: &'a mut World,
    req: &'a ImportRequest,
    import: i64,
    file: &'a mut FileSummary,
    now: DateTime<Utc>,
    counts: Counts,
    headers: HashMap<Field, String>,
    /// Source ids the batch found for records that were already there, written with one
    /// statement when the batch's rows are planned.
    remembered: (Vec<String>, Vec<i64>),
}

/// What a row changes on a company already there (`None` keeps a value).
#[derive(Default)]
struct CompanyUpdate {
    id: i64,
    industry: Option<String>,
    website: Option<String>,
    tags: Option<Vec<String>>,
    tier: Option<String>,
    contract_end: Option<NaiveDate>,
}

impl CompanyUpdate {
    fn is_empty(&self) -> bool {
        self.industry.is_none()
            && self.website.is_none()
            && self.tags.is_none()
            && self.tier.is_none()
            && self.contract_end.is_none()
    }
}

/// What a row changes on a contact already there (`None` keeps a value).
#[derive(Default)]
struct ContactUpdate {
    id: i64,
    phone: Option<String>,
    company: Option<Ref>,
    tags: Option<Vec<String>>,
    title: Option<String>,
    birthday: Option<Birthday>,
    contract_end: Option<NaiveDate>,
}

impl ContactUpdate {
    fn is_empty(&self) -> bool {
        self.phone.is_none()
            && self.company.is_none()
            && self.tags.is_none()
            && self.title.is_none()
            && self.birthday.is_none()
            && self.contract_end.is_none()
    }
}

/// New companies of a batch, deduplicated by name.
#[derive(Default)]
struct NewCompanies {
    cols: CompanyColumns,
    /// Queued companies by name key, and by domain: a company is one by its domain first, as
    /// for those already there ([`World::company`]).
    by_key: HashMap<String, usize>,
    by_domain: HashMap<String, usize>,
    /// The source's id each one came with.
    ext: Vec<Option<String>>,
    /// The source's ids of rows that were a queued company again under another id (the same
    /// domain or name, as a CRM holding one company twice exports it): each becomes that
    /// company's id too, so the source's deals and contacts naming either find it.
    aliases: Vec<(String, usize)>,
}

impl NewCompanies {
    /// The queued company with this website's domain, else this name.
    fn queued(&self, website: Option<&str>, name: &str) -> Option<usize> {
        website
            .and_then(super::domain_key)
            .and_then(|d| self.by_domain.get(&d))
            .or_else(|| self.by_key.get(&name_key(name)))
            .copied()
    }

    /// Indexes the company about to be queued at the next position.
    fn index(&mut self, website: Option<&str>, name: &str) -> usize {
        let i = self.cols.name.len();
        self.by_key.entry(name_key(name)).or_insert(i);
        if let Some(d) = website.and_then(super::domain_key) {
            self.by_domain.entry(d).or_insert(i);
        }
        i
    }
}

#[derive(Default)]
struct NewContacts {
    cols: ContactColumns,
    company: Vec<Option<Ref>>,
    /// Queued contacts by email key (and, for a deal's contact without one, by name and
    /// company): a person is one by their email, within the batch as outside it.
    by_key: HashMap<String, usize>,
    ext: Vec<Option<String>>,
    /// As [`NewCompanies::aliases`]: a person the source holds twice under one email.
    aliases: Vec<(String, usize)>,
}

/// A row's fingerprint, the id a row without one is known by: the same cells give the same id.
fn fingerprint(row: &Row) -> String {
    let mut h = Sha256::new();
    for (field, cell) in &row.cells {
        h.update(field.name().as_bytes());
        h.update([0]);
        match cell {
            Cell::Text(t) => h.update(t.as_bytes()),
            Cell::Money(m) => h.update(m.to_string().as_bytes()),
            Cell::Date(d) => h.update(format!("{d:?}").as_bytes()),
        }
        h.update([1]);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("row:{hex}")
}

/// A deal's number as salesbot's export writes it (`D-12`), read as chat reads it.
fn deal_number(d: &str) -> Option<i64> {
    match DealRef::parse(d) {
        Ok(DealRef::Number(n)) => Some(n),
        _ => None,
    }
}

/// Whether a row comes from this workspace's own export (its `workspace_id` is this one): its
/// ids are then this workspace's records, which it updates rather than adds again. A file
/// that says so of another workspace only gets matched by that workspace's ids as another
/// system's; nothing in it is written anywhere but here.
fn own_file(world: &World, row: &Row) -> bool {
    world.source == super::source_name(Source::Salesbot)
        && text(row, Field::Workspace).and_then(|w| w.parse::<i64>().ok()) == Some(world.ws)
}

/// Whether an activity's deal number may name a deal of this workspace: in its own export,
/// or in a salesbot export that does not say whose it is (written before the column was).
/// Another workspace's numbers name that workspace's deals, which only its deals file (by
/// their source ids) brings here.
fn number_names_deal(world: &World, row: &Row) -> bool {
    world.source == super::source_name(Source::Salesbot)
        && text(row, Field::Workspace).is_none_or(|w| w.parse::<i64>().ok() == Some(world.ws))
}

/// A row's id in its source, or its fingerprint.
fn ext_id(world: &World, row: &Row) -> String {
    source_id(world, row, Field::ExternalId).unwrap_or_else(|| fingerprint(row))
}

/// A source id a row gives (its own, or the deal it names), as the import records it. A
/// salesbot file that says whose export it is (`workspace_id`) numbers records in that
/// workspace's own space: its ids are kept as `workspace:id`, so one workspace's deal 17 is
/// never another's, nor a file's from before the column.
fn source_id(world: &World, row: &Row, field: Field) -> Option<String> {
    let id = text(row, field)?;
    let origin = (world.source == super::source_name(Source::Salesbot))
        .then(|| text(row, Field::Workspace))
        .flatten();
    Some(match origin {
        Some(w) => format!(
            "{}:{id}",
            w.parse::<i64>().map_or(w.to_string(), |n| n.to_string())
        ),
        None => id.to_string(),
    })
}

fn text(row: &Row, field: Field) -> Option<&str> {
    row.text(field).map(str::trim).filter(|t| !t.is_empty())
}

fn money(row: &Row, field: Field) -> Option<i64> {
    match row.cells.get(&field) {
        Some(Cell::Money(m)) => Some(*m),
        _ => None,
    }
}

fn date(row: &Row, field: Field) -> Option<CellDate> {
    match row.cells.get(&field) {
        Some(Cell::Date(d)) => Some(*d),
        _ => None,
    }
}

/// A one-line name within `max` characters.
fn line_text(row: &Row, field: Field, max: usize) -> Result<Option<String>, Refuse> {
    let Some(t) = text(row, field) else {
        return Ok(None);
    };
    let t = crate::domain::text::line(t).map_err(|e| Refuse(field, text_problem(e)))?;
    let len = t.chars().count();
    if len > max {
        return Err(Refuse(
            field,
            Msg::new("import.why.too_long")
                .arg("len", len)
                .arg("max", max),
        ));
    }
    Ok(Some(t.to_string()))
}

/// Tags another system wrote `Key Account; a.b`: split on `,` `;` `|`, each made a tag a
/// person can type in chat (a run of spaces or punctuation inside one becomes one `-`:
/// `key-account`, `a-b`), then held to chat's rules and limits, so that `/contact tag` can
/// name every tag an import brought.
fn tags(row: &Row) -> Result<Option<Vec<String>>, Refuse> {
    let Some(t) = text(row, Field::Tags) else {
        return Ok(None);
    };
    let typable: Vec<String> = t
        .split([',', ';', '|'])
        .map(typable_tag)
        .filter(|s| !s.is_empty())
        .collect();
    let limits = || {
        Refuse(
            Field::Tags,
            Msg::new("import.why.tags")
                .arg("count", MAX_TAGS)
                .arg("chars", MAX_TAG_CHARS),
        )
    };
    match crate::domain::refs::parse_tags(&typable.join(",")) {
        Ok(tags) => Ok(Some(tags)),
        Err(crate::domain::refs::RefError::InvalidTag(bad)) => {
            if bad.chars().count() > MAX_TAG_CHARS {
                Err(limits())
            } else {
                Err(Refuse(
                    Field::Tags,
                    Msg::new("import.why.bad_tag").arg("given", bad),
                ))
            }
        }
        Err(_) => Err(limits()),
    }
}

/// One tag as chat takes it: a tag chat would take as typed stays as chat has it (so an
/// export's own tags come back the same); otherwise letters, digits and `_`, with each run of
/// anything else between them (spaces, `.`, `/`) as one `-`.
fn typable_tag(s: &str) -> String {
    if let Ok(mut one) = crate::domain::refs::parse_tags(s) {
        if one.len() == 1 {
            return one.remove(0);
        }
    }
    let mut tag = String::new();
    let mut gap = false;
    for c in s.chars() {
        if c.is_alphanumeric() || c == '_' {
            if gap && !tag.is_empty() {
                tag.push('-');
            }
            gap = false;
            tag.push(c);
        } else {
            gap = true;
        }
    }
    tag
}

/// A contact's birthday as `/contact add` reads it: `(year, month, day)`, the year optional.
fn birthday(row: &Row) -> Result<Option<Birthday>, Refuse> {
    let Some(b) = text(row, Field::Birthday) else {
        return Ok(None);
    };
    let (year, month, day) = crate::domain::when::parse_birthday(b).map_err(|_| {
        Refuse(
            Field::Birthday,
            Msg::new("import.why.birthday").arg("given", b),
        )
    })?;
    // parse_birthday checked month and day as a calendar date.
    let small = |n: u32| i16::try_from(n).unwrap_or(0);
    Ok(Some(Birthday {
        year,
        month: small(month),
        day: small(day),
    }))
}

/// A company's tier: one of the values `/company add tier:` offers, by value or by the name
/// either language shows.
fn tier(row: &Row) -> Result<Option<String>, Refuse> {
    let Some(t) = text(row, Field::Tier) else {
        return Ok(None);
    };
    crate::domain::import::tier(t)
        .map(|v| Some(v.to_string()))
        .ok_or_else(|| Refuse(Field::Tier, Msg::new("import.why.tier").arg("given", t)))
}

/// A birthday with its year when the file gives one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Birthday {
    year: Option<i32>,
    month: i16,
    day: i16,
}

impl Birthday {
    /// Whether writing this over what is stored changes it: a birthday without a year does
    /// not take away a year the record has.
    fn changes(self, c: &KnownContact) -> bool {
        Some(self.month) != c.birthday_month
            || Some(self.day) != c.birthday_day
            || self.year.is_some_and(|y| Some(y) != c.birthday_year)
    }
}

fn email(row: &Row) -> Result<Option<String>, Refuse> {
    match text(row, Field::Email) {
        None => Ok(None),
        Some(e) => Email::parse(e)
            .map(|e| Some(e.into_string()))
            .map_err(|_| Refuse(Field::Email, Msg::new("import.why.email").arg("given", e))),
    }
}

/// A contact's name: the name column, else first and last name, else the email.
fn contact_name(row: &Row) -> Result<Option<String>, Refuse> {
    if let Some(n) = line_text(row, Field::Contact, MAX_NAME_CHARS)? {
        return Ok(Some(n));
    }
    let first = line_text(row, Field::FirstName, MAX_NAME_CHARS)?;
    let last = line_text(row, Field::LastName, MAX_NAME_CHARS)?;
    let joined = [first, last]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    if !joined.is_empty() {
        if joined.chars().count() > MAX_NAME_CHARS {
            return Err(Refuse(
                Field::LastName,
                Msg::new("import.why.name_too_long").arg("max", MAX_NAME_CHARS),
            ));
        }
        return Ok(Some(joined));
    }
    email(row)
}

impl Writer<'_> {
    /// The file's header for a field, or the field's own name when the file has no such
    /// column (a won deal in a file without close dates).
    fn column(&self, field: Field) -> String {
        self.headers
            .get(&field)
            .cloned()
            .unwrap_or_else(|| field.name().to_string())
    }

    fn refuse(&mut self, row: &Row, r: Refuse) {
        let column = self.column(r.0);
        self.file.refuse(row.line, &column, r.1);
    }

    /// The owner: the row's member, else the import's default owner.
    fn owner(&mut self, row: &Row) -> Result<i64, Refuse> {
        match text(row, Field::Owner) {
            Some(who) => match self.world.member(who) {
                Some(id) => Ok(id),
                None => {
                    *self
                        .file
                        .unmapped_owners
                        .entry(who.to_string())
                        .or_default() += 1;
                    self.req.default_owner.ok_or_else(|| {
                        Refuse(
                            Field::Owner,
                            Msg::new("import.why.not_member").arg("given", who),
                        )
                    })
                }
            },
            None => self
                .req
                .default_owner
                .ok_or_else(|| Refuse(Field::Owner, Msg::new("import.why.no_owner"))),
        }
    }

    fn check_currency(&self, row: &Row) -> Result<(), Refuse> {
        match text(row, Field::Currency) {
            Some(c) if !c.eq_ignore_ascii_case(&self.world.currency) => Err(Refuse(
                Field::Currency,
                Msg::new("import.why.currency")
                    .arg("given", c)
                    .arg("expected", &self.world.currency),
            )),
            _ => Ok(()),
        }
    }

    /// A company a row names, by the source's account id or by name; a name not known yet is
    /// queued in `new` with this row's owner.
    fn company_ref(
        &mut self,
        row: &Row,
        owner: i64,
        new: &mut NewCompanies,
    ) -> Result<Option<Ref>, Refuse> {
        // An account id only ever names a company an accounts file brought in (this import's,
        // written before any deals or contacts, or an earlier one's).
        if let Some(ext) = text(row, Field::CompanyId) {
            return match self.world.company(Some(ext), None, None) {
                Some(c) => Ok(Some(Ref::Known(c.id))),
                None => Err(Refuse(
                    Field::CompanyId,
                    Msg::new("import.why.unknown_account").arg("given", ext),
                )),
            };
        }
        let Some(name) = line_text(row, Field::Company, MAX_NAME_CHARS)? else {
            return Ok(None);
        };
        // A deals or contacts file may carry the company's website and industry too: the
        // website matches it, and both go on a company the row brings in.
        let website = line_text(row, Field::Domain, 255)?;
        if let Some(c) = self.world.company(None, website.as_deref(), Some(&name)) {
            return Ok(Some(Ref::Known(c.id)));
        }
        if let Some(i) = new.queued(website.as_deref(), &name) {
            return Ok(Some(Ref::New(i)));
        }
        let industry = line_text(row, Field::Sector, MAX_NAME_CHARS)?;
        let i = new.index(website.as_deref(), &name);
        new.cols.name.push(name);
        new.cols.owner.push(owner);
        new.cols.industry.push(industry);
        new.cols.website.push(website);
        new.cols.tags.push(String::new());
        new.cols.created_at.push(self.now);
        new.cols.tier.push(None);
        new.cols.contract_end.push(None);
        new.ext.push(None);
        Ok(Some(Ref::New(i)))
    }

    /// Remembers the source's id of a record that was already there, so later files of this
    /// import (and later imports) find it by that id; written by [`Self::write_remembered`]
    /// with the batch's others (a re-import of another system's file over records typed in
    /// by hand brings one for every row).
    fn remember_external(&mut self, entity: ImportEntity, ext: Option<&str>, id: i64) {
        let Some(e) = ext.filter(|e| self.world.external(entity, e).is_none()) else {
            return;
        };
        self.world.add_external(entity, e, id);
        self.remembered.0.push(e.to_string());
        self.remembered.1.push(id);
    }

    /// Writes the source ids [`Self::remember_external`] found, all of one entity.
    async fn write_remembered(&mut self, entity: ImportEntity) -> StoreResult<()> {
        let (external, records) = std::mem::take(&mut self.remembered);
        let (ws, source) = (self.world.ws, self.world.source);
        self.tx
            .insert_external_ids(ws, source, entity, &external, &records, self.import)
            .await
    }

    /// Records what a batch created: the source's ids it came with (`ext`, in `ids`' order)
    /// and its place on the import, so an undo finds it.
    async fn record_created(
        &mut self,
        entity: ImportEntity,
        ids: &[i64],
        ext: &[Option<String>],
    ) -> StoreResult<()> {
        let mut given = (Vec::new(), Vec::new());
        for (id, e) in ids.iter().zip(ext) {
            if let Some(e) = e {
                self.world.add_external(entity, e, *id);
                given.0.push(e.clone());
                given.1.push(*id);
            }
        }
        if !given.0.is_empty() {
            let (ws, source) = (self.world.ws, self.world.source);
            self.tx
                .insert_external_ids(ws, source, entity, &given.0, &given.1, self.import)
                .await?;
        }
        self.created(entity, ids.to_vec());
        Ok(())
    }

    /// Lists records the batch created on the import (with the batch's later writes), and
    /// in the world for the batches after it.
    fn created(&mut self, entity: ImportEntity, ids: Vec<i64>) {
        if ids.is_empty() {
            return;
        }
        self.world.add_created(entity, &ids);
        self.later.created.push((entity, ids));
    }

    /// Writes queued companies and indexes them; their ids in queue order.
    async fn flush_companies(&mut self, new: &NewCompanies) -> StoreResult<Vec<i64>> {
        let ids = self.tx.insert_companies(self.world.ws, &new.cols).await?;
        for (i, id) in ids.iter().enumerate() {
            self.world.index_company(KnownCompany {
                id: *id,
                name: new.cols.name[i].clone(),
                owner_id: new.cols.owner[i],
                industry: new.cols.industry[i].clone(),
                website: new.cols.website[i].clone(),
                tags: Vec::new(),
                tier: new.cols.tier[i].clone(),
                contract_end: new.cols.contract_end[i],
            });
        }
        self.record_created(ImportEntity::Company, &ids, &new.ext)
            .await?;
        self.record_aliases(ImportEntity::Company, &new.aliases, &ids)
            .await?;
        Ok(ids)
    }

    /// Makes each source id in `aliases` (a row that was a queued record again under another
    /// id) an id of that record too, so the source's rows naming either find it.
    async fn record_aliases(
        &mut self,
        entity: ImportEntity,
        aliases: &[(String, usize)],
        ids: &[i64],
    ) -> StoreResult<()> {
        let (mut external, mut records) = (Vec::new(), Vec::new());
        for (e, i) in aliases {
            let Some(id) = ids.get(*i).copied() else {
                continue;
            };
            if self.world.external(entity, e).is_none() {
                self.world.add_external(entity, e, id);
                external.push(e.clone());
                records.push(id);
            }
        }
        if !external.is_empty() {
            let (ws, source) = (self.world.ws, self.world.source);
            self.tx
                .insert_external_ids(ws, source, entity, &external, &records, self.import)
                .await?;
        }
        Ok(())
    }

    async fn flush_contacts(
        &mut self,
        new: &mut NewContacts,
        companies: &[i64],
    ) -> StoreResult<Vec<i64>> {
        for (i, r) in new.company.iter().enumerate() {
            new.cols.company[i] = match r {
                Some(Ref::Known(id)) => Some(*id),
                Some(Ref::New(j)) => companies.get(*j).copied(),
                None => None,
            };
        }
        let ids = self.tx.insert_contacts(self.world.ws, &new.cols).await?;
        for (i, id) in ids.iter().enumerate() {
            self.world.index_contact(KnownContact {
                id: *id,
                name: new.cols.name[i].clone(),
                company_id: new.cols.company[i],
                owner_id: new.cols.owner[i],
                email: new.cols.email[i].clone(),
                phone: new.cols.phone[i].clone(),
                tags: Vec::new(),
                title: new.cols.title[i].clone(),
                birthday_year: new.cols.birthday_year[i],
                birthday_month: new.cols.birthday_month[i],
                birthday_day: new.cols.birthday_day[i],
                contract_end: new.cols.contract_end[i],
            });
        }
        self.record_created(ImportEntity::Contact, &ids, &new.ext)
            .await?;
        self.record_aliases(ImportEntity::Contact, &new.aliases, &ids)
            .await?;
        Ok(ids)
    }

    /// The images of records before the batch changes them; none for a record this import
    /// created, which stays listed as created (the undo deletes it: nothing to restore).
    async fn before_images(
        &mut self,
        entity: ImportEntity,
        ids: &[i64],
    ) -> StoreResult<Vec<Option<serde_json::Value>>> {
        let earlier: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !self.world.created(entity, *id))
            .collect();
        let images: HashMap<i64, serde_json::Value> = self
            .tx
            .images(self.world.ws, entity, &earlier)
            .await?
            .into_iter()
            .collect();
        Ok(ids.iter().map(|id| images.get(id).cloned()).collect())
    }

    // -----------------------------------------------------------------------------------------

    async fn products(&mut self, rows: &[Row]) -> StoreResult<()> {
        let mut names = Vec::new();
        let mut prices = Vec::new();
        let mut queued: HashMap<String, usize> = HashMap::new();
        let mut changes: Vec<(i64, i64)> = Vec::new();
        for row in rows {
            let name = match line_text(row, Field::Product, MAX_NAME_CHARS) {
                Ok(Some(n)) => n,
                Ok(None) => {
                    self.refuse(
                        row,
                        Refuse(Field::Product, Msg::new("import.why.no_product")),
                    );
                    continue;
                }
                Err(r) => {
                    self.refuse(row, r);
                    continue;
                }
            };
            // A list price in another currency would be read as the workspace's.
            if let Err(r) = self.check_currency(row) {
                self.refuse(row, r);
                continue;
            }
            let price = money(row, Field::Price).or(money(row, Field::Amount));
            let key = super::product_key(&name);
            if !self.world.first_sight(ImportEntity::Product, &key) || queued.contains_key(&key) {
                self.counts[2] += 1;
                continue;
            }
            match self.world.product(&name) {
                Some((id, list)) => match price {
                    Some(p) if p != list => {
                        changes.push((id, p));
                        self.world.add_product(&name, id, p);
                        self.counts[1] += 1;
                    }
                    _ => self.counts[2] += 1,
                },
                None => {
                    queued.insert(key, names.len());
                    names.push(name);
                    prices.push(price.unwrap_or(0));
                    self.counts[0] += 1;
                }
            }
        }
        let ws = self.world.ws;
        let ids = self.tx.insert_products(ws, &names, &prices).await?;
        for (i, id) in ids.iter().enumerate() {
            self.world.add_product(&names[i], *id, prices[i]);
        }
        self.created(ImportEntity::Product, ids);
        let changed: Vec<i64> = changes.iter().map(|c| c.0).collect();
        let before = self.before_images(ImportEntity::Product, &changed).await?;
        for (id, price) in &changes {
            self.tx.set_product_price(ws, *id, *price).await?;
        }
        self.tx
            .record_import_rows(ws, self.import, ImportEntity::Product, &changed, &before)
            .await?;
        Ok(())
    }

    async fn companies(&mut self, rows: &[Row]) -> StoreResult<()> {
        let mut new = NewCompanies::default();
        let mut updates: Vec<CompanyUpdate> = Vec::new();
        for row in rows {
            let plan = (|| -> Result<_, Refuse> {
                let name = line_text(row, Field::Company, MAX_NAME_CHARS)?;
                let website = line_text(row, Field::Domain, 255)?;
                let industry = line_text(row, Field::Sector, MAX_NAME_CHARS)?;
                let tags = tags(row)?;
                let tier = tier(row)?;
                Ok((name, website, industry, tags, tier))
            })();
            let (name, website, industry, tags, tier) = match plan {
                Ok(p) => p,
                Err(r) => {
                    self.refuse(row, r);
                    continue;
                }
            };
            let contract_end = date(row, Field::ContractEnd).map(|d| self.world.day(d));
            let ext = source_id(self.world, row, Field::ExternalId);
            let name = match name.or_else(|| website.as_deref().and_then(super::domain_key)) {
                Some(n) => n,
                None => {
                    self.refuse(
                        row,
                        Refuse(Field::Company, Msg::new("import.why.no_company")),
                    );
                    continue;
                }
            };
            let seen_key = ext
                .clone()
                .unwrap_or_else(|| format!("name:{}", name_key(&name)));
            if !self.world.first_sight(ImportEntity::Company, &seen_key) {
                self.counts[2] += 1;
                continue;
            }
            let found = self
                .world
                .company(ext.as_deref(), website.as_deref(), Some(&name));
            if let Some(c) = found {
                let change = CompanyUpdate {
                    id: c.id,
                    industry: industry.filter(|v| c.industry.as_deref() != Some(v)),
                    website: website.filter(|v| c.website.as_deref() != Some(v)),
                    tags: tags.filter(|t| *t != c.tags),
                    tier: tier.filter(|v| c.tier.as_deref() != Some(v)),
                    contract_end: contract_end.filter(|d| c.contract_end != Some(*d)),
                };
                self.remember_external(ImportEntity::Company, ext.as_deref(), change.id);
                if change.is_empty() {
                    self.counts[2] += 1;
                } else if let Some(c) = self.world.company_mut(change.id) {
                    if let Some(v) = &change.industry {
                        c.industry = Some(v.clone());
                    }
                    if let Some(v) = &change.website {
                        c.website = Some(v.clone());
                    }
                    if let Some(v) = &change.tags {
                        c.tags = v.clone();
                    }
                    if let Some(v) = &change.tier {
                        c.tier = Some(v.clone());
                    }
                    if change.contract_end.is_some() {
                        c.contract_end = change.contract_end;
                    }
                    updates.push(change);
                    self.counts[1] += 1;
                }
                continue;
            }
            let owner = match self.owner(row) {
                Ok(o) => o,
                Err(r) => {
                    self.refuse(row, r);
                    continue;
                }
            };
            if let Some(i) = new.queued(website.as_deref(), &name) {
                if let Some(e) = ext {
                    new.aliases.push((e, i));
                }
                self.counts[2] += 1;
                continue;
            }
            new.index(website.as_deref(), &name);
            new.cols.name.push(name);
            new.cols.owner.push(owner);
            new.cols.industry.push(industry);
            new.cols.website.push(website);
            new.cols.tags.push(tags.unwrap_or_default().join(","));
            new.cols.created_at.push(
                date(row, Field::CreatedDate)
                    .and_then(|d| self.world.instant(d))
                    .unwrap_or(self.now),
            );
            new.cols.tier.push(tier);
            new.cols.contract_end.push(contract_end);
            new.ext.push(ext);
            self.counts[0] += 1;
        }
        self.flush_companies(&new).await?;
        self.write_remembered(ImportEntity::Company).await?;
        let ids: Vec<i64> = updates.iter().map(|u| u.id).collect();
        let before = self.before_images(ImportEntity::Company, &ids).await?;
        let mut changes = CompanyUpdates::default();
        for u in updates {
            changes.id.push(u.id);
            changes.industry.push(u.industry);
            changes.website.push(u.website);
            changes.tags.push(u.tags.map(|t| t.join(",")));
            changes.tier.push(u.tier);
            changes.contract_end.push(u.contract_end);
        }
        self.tx
            .update_import_companies(self.world.ws, &changes)
            .await?;
        self.tx
            .record_import_rows(
                self.world.ws,
                self.import,
                ImportEntity::Company,
                &ids,
                &before,
            )
            .await?;
        Ok(())
    }

    async fn contacts(&mut self, rows: &[Row]) -> StoreResult<()> {
        let mut companies = NewCompanies::default();
        let mut new = NewContacts::default();
        let mut updates: Vec<ContactUpdate> = Vec::new();
        for row in rows {
            let plan = (|| -> Result<_, Refuse> {
                let name = contact_name(row)?.ok_or_else(|| {
                    Refuse(Field::Contact, Msg::new("import.why.no_contact_name"))
                })?;
                let email = email(row)?;
                let phone = line_text(row, Field::Phone, 50)?;
                let tags = tags(row)?;
                let title = line_text(row, Field::JobTitle, MAX_JOB_TITLE_CHARS)?;
                let birthday = birthday(row)?;
                Ok((name, email, phone, tags, title, birthday))
            })();
            let (name, email, phone, tags, title, birthday) = match plan {
                Ok(p) => p,
                Err(r) => {
                    self.refuse(row, r);
                    continue;
                }
            };
            let contract_end = date(row, Field::ContractEnd).map(|d| self.world.day(d));
            let ext = source_id(self.world, row, Field::ExternalId);
            let owner = match self.owner(row) {
                Ok(o) => o,
                Err(r) => {
                    self.refuse(row, r);
                    continue;
                }
            };
            let company = match self.company_ref(row, owner, &mut companies) {
                Ok(c) => c,
                Err(r) => {
                    self.refuse(row, r);
                    continue;
                }
            };
            let company_id = match company {
                Some(Ref::Known(id)) => Some(id),
                _ => None,
            };
            let seen_key = ext
                .clone()
                .or_else(|| email.as_deref().map(|e| format!("email:{}", email_key(e))))
                // A company this batch brings in is keyed by its name, not by its
                // `Ref::New(index)`: the index means another company in the next batch, so
                // one person's name at two new companies would collapse into one contact.
                .unwrap_or_else(|| {
                    let at = match company {
                        Some(Ref::Known(id)) => format!("{id}"),
                        Some(Ref::New(_)) => {
                            format!(
                                "new:{}",
                                text(row, Field::Company).map(name_key).unwrap_or_default()
                            )
                        }
                        None => String::new(),
                    };
                    format!("name:{}:{at}", name_key(&name))
                });
            if !self.world.first_sight(ImportEntity::Contact, &seen_key) {
                self.counts[2] += 1;
                continue;
            }
            if let Some(c) =
                self.world
                    .contact(ext.as_deref(), email.as_deref(), Some(&name), company_id)
            {
                let change = ContactUpdate {
                    id: c.id,
                    phone: phone.filter(|p| c.phone.as_deref() != Some(p)),
                    company: company.filter(|r| *r != Ref::Known(c.company_id.unwrap_or(-1))),
                    tags: tags.filter(|t| *t != c.tags),
                    title: title.filter(|t| c.title.as_deref() != Some(t)),
                    birthday: birthday.filter(|b| b.changes(c)),
                    contract_end: contract_end.filter(|d| c.contract_end != Some(*d)),
                };
                self.remember_external(ImportEntity::Contact, ext.as_deref(), change.id);
                if change.is_empty() {
                    self.counts[2] += 1;
                } else {
                    updates.push(change);
                    self.counts[1] += 1;
                }
                continue;
            }
            // Queued earlier in this batch under another source id (written records are
            // matched above): the same person, known by both ids.
            let email_key_of = email.as_deref().map(email_key);
            if let Some(i) = email_key_of
                .as_ref()
                .and_then(|k| new.by_key.get(k))
                .copied()
            {
                if let Some(e) = ext {
                    new.aliases.push((e, i));
                }
                self.counts[2] += 1;
                continue;
            }
            if let Some(k) = email_key_of {
                new.by_key.insert(k, new.cols.name.len());
            }
            new.cols.name.push(name);
            new.cols.company.push(None);
            new.company.push(company);
            new.cols.owner.push(owner);
            new.cols.email.push(email);
            new.cols.phone.push(phone);
            new.cols.tags.push(tags.unwrap_or_default().join(","));
            new.cols.created_at.push(
                date(row, Field::CreatedDate)
                    .and_then(|d| self.world.instant(d))
                    .unwrap_or(self.now),
            );
            new.cols.title.push(title);
            new.cols.birthday_year.push(birthday.and_then(|b| b.year));
            new.cols.birthday_month.push(birthday.map(|b| b.month));
            new.cols.birthday_day.push(birthday.map(|b| b.day));
            new.cols.contract_end.push(contract_end);
            new.ext.push(ext);
            self.counts[0] += 1;
        }
        let company_ids = self.flush_companies(&companies).await?;
        self.flush_contacts(&mut new, &company_ids).await?;
        self.write_remembered(ImportEntity::Contact).await?;
        let ids: Vec<i64> = updates.iter().map(|u| u.id).collect();
        let before = self.before_images(ImportEntity::Contact, &ids).await?;
        let mut changes = ContactUpdates::default();
        for u in updates {
            let company = match u.company {
                Some(Ref::Known(id)) => Some(id),
                Some(Ref::New(j)) => company_ids.get(j).copied(),
                None => None,
            };
            if let Some(c) = self.world.contact_mut(u.id) {
                if let Some(p) = &u.phone {
                    c.phone = Some(p.clone());
                }
                if company.is_some() {
                    c.company_id = company;
                }
                if let Some(t) = &u.tags {
                    c.tags = t.clone();
                }
                if let Some(t) = &u.title {
                    c.title = Some(t.clone());
                }
                if let Some(b) = u.birthday {
                    c.birthday_year = b.year;
                    c.birthday_month = Some(b.month);
                    c.birthday_day = Some(b.day);
                }
                if u.contract_end.is_some() {
                    c.contract_end = u.contract_end;
                }
            }
            changes.id.push(u.id);
            changes.phone.push(u.phone);
            changes.company.push(company);
            changes.tags.push(u.tags.map(|t| t.join(",")));
            changes.title.push(u.title);
            changes.birthday_year.push(u.birthday.and_then(|b| b.year));
            changes.birthday_month.push(u.birthday.map(|b| b.month));
            changes.birthday_day.push(u.birthday.map(|b| b.day));
            changes.contract_end.push(u.contract_end);
        }
        self.tx
            .update_import_contacts(self.world.ws, &changes)
            .await?;
        self.tx
            .record_import_rows(
                self.world.ws,
                self.import,
                ImportEntity::Contact,
                &ids,
                &before,
            )
            .await?;
        Ok(())
    }

    /// The stage and status a deal row comes in with.
    fn stage(&mut self, row: &Row) -> Result<(Stage, StageKind), Refuse> {
        let named = text(row, Field::Stage);
        let mapped = named.and_then(|n| {
            self.req
                .stage_map
                .iter()
                .find(|m| crate::domain::stage::same_name(&m.theirs, n))
                .and_then(|m| self.world.stage_named(&m.ours))
                .or_else(|| self.world.stage_named(n))
                .cloned()
        });
        let missing = |kind: &str| {
            Refuse(
                Field::Stage,
                Msg::new("import.why.no_stage_kind").arg("kind", kind),
            )
        };
        match (row.outcome, mapped) {
            (_, Some(s)) if s.kind != StageKind::Open => Ok((s.clone(), s.kind)),
            (Some(Outcome::Won), _) => {
                let s = self
                    .world
                    .first_of(StageKind::Won)
                    .ok_or_else(|| missing("won"))?;
                Ok((s.clone(), StageKind::Won))
            }
            (Some(Outcome::Lost), _) => {
                let s = self
                    .world
                    .first_of(StageKind::Lost)
                    .ok_or_else(|| missing("lost"))?;
                Ok((s.clone(), StageKind::Lost))
            }
            (None, Some(s)) => Ok((s, StageKind::Open)),
            (None, None) => match named {
                Some(n) => {
                    *self.file.unmapped_stages.entry(n.to_string()).or_default() += 1;
                    let ours: Vec<&str> =
                        self.world.stages.iter().map(|s| s.name.as_str()).collect();
                    Err(Refuse(
                        Field::Stage,
                        Msg::new("import.why.unknown_stage")
                            .arg("given", n)
                            .arg("stages", ours.join(", ")),
                    ))
                }
                None => {
                    let s = self
                        .world
                        .first_of(StageKind::Open)
                        .ok_or_else(|| missing("open"))?;
                    Ok((s.clone(), StageKind::Open))
                }
            },
        }
    }

    async fn deals(&mut self, rows: &[Row]) -> StoreResult<()> {
        let mut companies = NewCompanies::default();
        let mut contacts = NewContacts::default();
        let mut deals = DealColumns::default();
        let mut deal_company: Vec<Option<Ref>> = Vec::new();
        let mut deal_contact: Vec<Option<Ref>> = Vec::new();
        let mut deal_ext: Vec<String> = Vec::new();
        // (product name, unit price, list price when known) per new deal.
        let mut deal_line: Vec<Option<(String, i64, Option<i64>)>> = Vec::new();
        // (deal, plan, the row's line)
        let mut matched: Vec<(i64, DealPlan, u64)> = Vec::new();
        let salesbot = self.world.source == super::source_name(Source::Salesbot);
        for row in rows {
            let ext = ext_id(self.world, row);
            if !self.world.first_sight(ImportEntity::Deal, &ext) {
                self.counts[2] += 1;
                continue;
            }
            let plan = match self.plan_deal(row, salesbot) {
                Ok(p) => p,
                Err(r) => {
                    self.refuse(row, r);
                    continue;
                }
            };
            // A workspace's own export names its deals by number, else (a deal a run of the
            // same file created, its number since taken back) by the id it recorded.
            let by_number = own_file(self.world, row)
                .then(|| text(row, Field::ExternalId).and_then(deal_number))
                .flatten()
                .and_then(|n| self.world.deal_by_number(n));
            let found = by_number.or_else(|| self.world.external(ImportEntity::Deal, &ext));
            if let Some(id) = found {
                matched.push((id, plan, row.line));
                continue;
            }
            let company = match self.company_ref(row, plan.owner, &mut companies) {
                Ok(c) => c,
                Err(r) => {
                    self.refuse(row, r);
                    continue;
                }
            };
            let contact = match self.deal_contact(row, plan.owner, company, &mut contacts) {
                Ok(c) => c,
                Err(r) => {
                    self.refuse(row, r);
                    continue;
                }
            };
            let title = match plan.title.clone() {
                Some(t) => t,
                None => {
                    let company_name = text(row, Field::Company);
                    let product = text(row, Field::Product);
                    match (company_name, product) {
                        (Some(c), Some(p)) => format!("{c} - {p}"),
                        (Some(n), None) | (None, Some(n)) => n.to_string(),
                        (None, None) => match text(row, Field::ExternalId) {
                            Some(id) => id.to_string(),
                            None => {
                                self.refuse(
                                    row,
                                    Refuse(Field::Title, Msg::new("import.why.no_title")),
                                );
                                continue;
                            }
                        },
                    }
                }
            };
            // No char-by-char copy where the bytes alone show it fits.
            let title = if title.len() <= MAX_TITLE_CHARS {
                title
            } else {
                title.chars().take(MAX_TITLE_CHARS).collect()
            };
            let mut amount = plan.amount.unwrap_or(0);
            let line = match &plan.product {
                Some(p) => {
                    let list = self.world.product(p).map(|(_, list)| list);
                    if plan.amount.is_none() {
                        amount = list.unwrap_or(0);
                    }
                    Some((p.clone(), amount, list))
                }
                None => None,
            };
            self.counts[0] += 1;
            deals.title.push(title);
            deals.company.push(None);
            deals.contact.push(None);
            deal_company.push(company);
            deal_contact.push(contact);
            deals.owner.push(plan.owner);
            deals.amount.push(amount);
            deals.stage.push(plan.stage.id);
            deals.status.push(plan.status.as_str().to_string());
            deals.expected_close.push(plan.expected_close);
            deals.closed_at.push(plan.closed_at);
            deals.lost_reason.push(plan.lost_reason.clone());
            let first_open = self.world.first_of(StageKind::Open).map(|s| s.position);
            deals.furthest.push(match plan.status {
                StageKind::Lost => first_open.unwrap_or(plan.stage.position),
                _ => plan.stage.position,
            });
            deals.created_at.push(plan.created_at);
            deal_ext.push(ext);
            deal_line.push(line);
        }
        // A record the batch before brought in is there for this transaction (and its foreign
        // keys, checked row by row) only once that batch committed.
        let known = |refs: &[Option<Ref>]| {
            refs.iter()
                .filter_map(|r| match r {
                    Some(Ref::Known(id)) => Some(*id),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let companies_used = [known(&deal_company), known(&contacts.company)].concat();
        let products_used: Vec<i64> = deal_line
            .iter()
            .flatten()
            .filter_map(|(name, _, _)| self.world.product(name).map(|p| p.0))
            .collect();
        if self.before.brought(ImportEntity::Company, &companies_used)
            || self
                .before
                .brought(ImportEntity::Contact, &known(&deal_contact))
            || self.before.brought(ImportEntity::Product, &products_used)
        {
            self.before.settle(self.world).await?;
        }
        let company_ids = self.flush_companies(&companies).await?;
        let resolve = |r: &Option<Ref>, new: &[i64]| match r {
            Some(Ref::Known(id)) => Some(*id),
            Some(Ref::New(j)) => new.get(*j).copied(),
            None => None,
        };
        let contact_ids = self.flush_contacts(&mut contacts, &company_ids).await?;
        for i in 0..deals.title.len() {
            deals.company[i] = resolve(&deal_company[i], &company_ids);
            deals.contact[i] = resolve(&deal_contact[i], &contact_ids);
        }
        // Products the file names that the catalogue does not have come in at the price
        // they were first sold at.
        let mut product_names = Vec::new();
        let mut product_prices = Vec::new();
        for (name, unit, _) in deal_line.iter().flatten() {
            if self.world.product(name).is_none()
                && !product_names
                    .iter()
                    .any(|n: &String| super::product_key(n) == super::product_key(name))
            {
                product_names.push(name.clone());
                product_prices.push(*unit);
            }
        }
        let ws = self.world.ws;
        let product_ids = self
            .tx
            .insert_products(ws, &product_names, &product_prices)
            .await?;
        for (i, id) in product_ids.iter().enumerate() {
            self.world
                .add_product(&product_names[i], *id, product_prices[i]);
        }
        self.created(ImportEntity::Product, product_ids);
        let currency = self.world.currency.clone();
        // New deals, their history and lines go in with the rollup triggers aside; their totals
        // are added in one grouped statement per table with the batch's later writes.
        if deals.title.is_empty() {
            return self.update_deals(matched).await;
        }
        let n = deals.title.len() as i64;
        let slots = match self.numbers {
            Some(store) => store.reserve_deals(ws, n).await?,
            None => self.tx.dry_run_deals(ws, n).await?,
        };
        let ids = slots.ids.clone();
        let mut changes = ChangeColumns::default();
        let mut lines = LineColumns::default();
        let first_open = self.world.first_of(StageKind::Open).map(|s| s.id);
        for (i, id) in ids.iter().enumerate() {
            let by = deals.owner[i];
            let stage = deals.stage[i];
            match (deals.status[i].as_str(), first_open, deals.closed_at[i]) {
                ("open", _, _) | (_, None, _) | (_, _, None) => {
                    changes.deal.push(*id);
                    changes.from.push(None);
                    changes.to.push(stage);
                    changes.by.push(by);
                    changes.at.push(deals.created_at[i]);
                    changes.ended_stage.push(None);
                    changes.ended_entered.push(None);
                }
                (_, Some(open), Some(closed)) => {
                    changes.deal.extend([*id, *id]);
                    changes.from.extend([None, Some(open)]);
                    changes.to.extend([open, stage]);
                    changes.by.extend([by, by]);
                    changes.at.extend([deals.created_at[i], closed]);
                    changes.ended_stage.extend([None, Some(open)]);
                    changes
                        .ended_entered
                        .extend([None, Some(deals.created_at[i])]);
                }
            }
            if let Some((name, unit, list)) = &deal_line[i] {
                if let Some((product, catalogue)) = self.world.product(name) {
                    lines.deal.push(*id);
                    lines.product.push(product);
                    lines.quantity.push(1);
                    lines.unit_price.push(*unit);
                    lines.list_price.push(list.unwrap_or(catalogue));
                }
            }
            self.world
                .add_external(ImportEntity::Deal, &deal_ext[i], *id);
        }
        // The first of them go in now, on the batch's own time, so that neither half of the
        // pipeline waits for the other (see `Session::rebalance`); the rest, their history,
        // lines and rollups with the later writes.
        let head = (deals.title.len() as f64 * self.deal_share.clamp(0.0, 1.0)) as usize;
        if head > 0 {
            self.tx.defer_rollups(true).await?;
            self.tx
                .insert_deals(ws, &currency, &slots, &deals, 0..head)
                .await?;
            self.tx.defer_rollups(false).await?;
        }
        self.later.head_deals = head;
        self.later.changes = changes;
        self.later.lines = lines;
        self.later.deal_slots = slots;
        self.later.deal_columns = deals;
        self.later.currency = currency;
        let source = self.world.source;
        self.tx
            .insert_external_ids(ws, source, ImportEntity::Deal, &deal_ext, &ids, self.import)
            .await?;
        self.created(ImportEntity::Deal, ids);
        self.update_deals(matched).await
    }

    fn plan_deal(&mut self, row: &Row, salesbot: bool) -> Result<DealPlan, Refuse> {
        self.check_currency(row)?;
        let owner = self.owner(row)?;
        let owner_named = text(row, Field::Owner)
            .and_then(|w| self.world.member(w))
            .is_some();
        let (stage, status) = self.stage(row)?;
        // A row with neither a stage nor a won/lost cell says nothing of where the deal is:
        // a new deal starts in the first open stage, a matched one stays where it is.
        let stage_named = text(row, Field::Stage).is_some() || row.outcome.is_some();
        let title = line_text(row, Field::Title, MAX_TITLE_CHARS)?;
        let product = line_text(row, Field::Product, MAX_NAME_CHARS)?;
        let lost_reason = if status == StageKind::Lost {
            line_text(row, Field::LostReason, 200)?
        } else {
            None
        };
        let close = date(row, Field::CloseDate);
        let closed_from = match date(row, Field::ClosedAt) {
            Some(_) => Field::ClosedAt,
            None => Field::CloseDate,
        };
        let closed_at = match status {
            StageKind::Open => None,
            _ => {
                let at = date(row, Field::ClosedAt)
                    .or(close)
                    .and_then(|d| self.world.instant(d))
                    .ok_or_else(|| {
                        Refuse(Field::CloseDate, Msg::new("import.why.no_close_date"))
                    })?;
                Some(at)
            }
        };
        let created_at = date(row, Field::CreatedDate)
            .and_then(|d| self.world.instant(d))
            .or(closed_at)
            .unwrap_or(self.now);
        if let Some(closed) = closed_at {
            if closed < created_at {
                return Err(Refuse(
                    closed_from,
                    Msg::new("import.why.closes_before_created"),
                ));
            }
        }
        // Salesforce, HubSpot and Zoho write one close date: the expected one while a deal is
        // open, the real one once closed. salesbot's own export has both apart.
        let expected_close = match (status, salesbot) {
            (_, true) | (StageKind::Open, false) => close.map(|d| self.world.day(d)),
            _ => None,
        };
        Ok(DealPlan {
            owner,
            owner_named,
            stage,
            stage_named,
            status,
            title,
            amount: money(row, Field::Amount),
            product,
            expected_close,
            closed_at,
            closed_from,
            created_at,
            lost_reason,
        })
    }

    /// The contact a deal row names: by email, else by name within the deal's company; a
    /// new one is queued.
    fn deal_contact(
        &mut self,
        row: &Row,
        owner: i64,
        company: Option<Ref>,
        new: &mut NewContacts,
    ) -> Result<Option<Ref>, Refuse> {
        let email = email(row)?;
        let name = line_text(row, Field::Contact, MAX_NAME_CHARS)?;
        if email.is_none() && name.is_none() {
            return Ok(None);
        }
        let company_id = match company {
            Some(Ref::Known(id)) => Some(id),
            _ => None,
        };
        if let Some(c) = self
            .world
            .contact(None, email.as_deref(), name.as_deref(), company_id)
        {
            return Ok(Some(Ref::Known(c.id)));
        }
        let key = email.as_deref().map(email_key).unwrap_or_else(|| {
            format!(
                "{}:{company:?}",
                name_key(name.as_deref().unwrap_or_default())
            )
        });
        if let Some(i) = new.by_key.get(&key) {
            return Ok(Some(Ref::New(*i)));
        }
        let i = new.cols.name.len();
        new.cols
            .name
            .push(name.or_else(|| email.clone()).unwrap_or_default());
        new.cols.company.push(None);
        new.company.push(company);
        new.cols.owner.push(owner);
        new.cols.email.push(email);
        new.cols.phone.push(None);
        new.cols.tags.push(String::new());
        new.cols.created_at.push(self.now);
        new.cols.title.push(None);
        new.cols.birthday_year.push(None);
        new.cols.birthday_month.push(None);
        new.cols.birthday_day.push(None);
        new.cols.contract_end.push(None);
        new.ext.push(None);
        new.by_key.insert(key, i);
        Ok(Some(Ref::New(i)))
    }

    /// Deals the source's id matched: their plain fields where the file differs, and a stage
    /// move (recorded like a typed one) where the stage or result differs.
    async fn update_deals(&mut self, matched: Vec<(i64, DealPlan, u64)>) -> StoreResult<()> {
        if matched.is_empty() {
            return Ok(());
        }
        // They may have come in with the batch before, which this transaction sees only once
        // it committed.
        self.before.settle(self.world).await?;
        let ws = self.world.ws;
        let ids: Vec<i64> = matched.iter().map(|m| m.0).collect();
        let known: HashMap<i64, crate::store::KnownDeal> = self
            .tx
            .known_deals(ws, &ids)
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
        let mut changed = Vec::new();
        let mut plain = DealUpdates::default();
        let mut moves = DealMoves::default();
        let mut history = ChangeColumns::default();
        for (id, mut plan, line) in matched {
            let Some(d) = known.get(&id) else {
                // The deal was deleted since an earlier import: its id is history.
                self.counts[2] += 1;
                continue;
            };
            let title = plan.title.filter(|t| *t != d.title);
            let amount = plan.amount.filter(|a| *a != d.amount_minor && d.lines == 0);
            let expected = plan.expected_close.filter(|e| d.expected_close != Some(*e));
            let owner = Some(plan.owner).filter(|o| *o != d.owner_id && plan.owner_named);
            let moved = plan.stage_named && plan.stage.id != d.stage_id;
            if let (true, Some(closed)) = (moved, plan.closed_at) {
                // A close before the deal's last stage change would run its history backwards
                // (a negative cycle, a stay in Won before the deal existed). On that change's
                // own day it is read as closing right after it: a file's dates are often days.
                if closed < d.last_change_at {
                    let (day, last) = (
                        self.world.day(CellDate::Instant(closed)),
                        self.world.day(CellDate::Instant(d.last_change_at)),
                    );
                    if day < last {
                        let column = self.column(plan.closed_from);
                        self.file.refuse(
                            line,
                            &column,
                            Msg::new("import.why.closes_before_history")
                                .arg("date", day.to_string())
                                .arg("last", last.to_string()),
                        );
                        continue;
                    }
                    plan.closed_at = Some(d.last_change_at);
                }
            }
            let edited =
                title.is_some() || amount.is_some() || expected.is_some() || owner.is_some();
            if !edited && !moved {
                self.counts[2] += 1;
                continue;
            }
            changed.push(id);
            self.counts[1] += 1;
            if edited {
                plain.id.push(id);
                plain.title.push(title);
                plain.amount.push(amount);
                plain.expected_close.push(expected);
                plain.owner.push(owner);
            }
            if moved {
                let at = plan.closed_at.unwrap_or(self.now);
                moves.id.push(id);
                moves.stage.push(plan.stage.id);
                moves.status.push(plan.status.as_str().to_string());
                moves.furthest.push(match plan.status {
                    StageKind::Lost => d.furthest_position,
                    _ => d.furthest_position.max(plan.stage.position),
                });
                moves.closed_at.push(plan.closed_at);
                moves.lost_reason.push(plan.lost_reason);
                moves.at.push(at);
                history.deal.push(id);
                history.from.push(Some(d.stage_id));
                history.to.push(plan.stage.id);
                history.by.push(plan.owner);
                history.at.push(at);
            }
        }
        // One statement each for the batch, in the order a typed change goes: the deal's
        // fields (its owner, whom the history row names), its stage, then its history row.
        let before = self.before_images(ImportEntity::Deal, &changed).await?;
        // A dry run keeps the rollups out of it, as for new deals (`Later::write`): the
        // triggers would hold the totals rows of every owner and stage it moves deals between
        // while the preview runs. The history's stays are not spliced either; nothing in the
        // rolled-back transaction reads them.
        let dry = self.req.dry_run;
        if dry {
            self.tx.defer_rollups(true).await?;
        }
        self.tx.update_import_deals(ws, &plain, self.now).await?;
        self.tx.move_import_deals(ws, &moves).await?;
        let added = self.tx.insert_import_moves(ws, &history).await?;
        if dry {
            self.tx.defer_rollups(false).await?;
        }
        self.tx.record_import_moves(ws, self.import, &added).await?;
        self.tx
            .record_import_rows(ws, self.import, ImportEntity::Deal, &changed, &before)
            .await
    }

    async fn activities(&mut self, rows: &[Row]) -> StoreResult<()> {
        let mut cols = ActivityColumns::default();
        let mut exts = Vec::new();
        for row in rows {
            let ext = ext_id(self.world, row);
            let ours = own_file(self.world, row)
                && text(row, Field::ExternalId)
                    .and_then(|a| a.parse::<i64>().ok())
                    .is_some_and(|id| self.world.has_activity(id));
            if !self.world.first_sight(ImportEntity::Activity, &ext)
                || ours
                || self.world.external(ImportEntity::Activity, &ext).is_some()
            {
                self.counts[2] += 1;
                continue;
            }
            match self.plan_activity(row).await {
                Ok(Ok(a)) => {
                    cols.contact.push(a.0);
                    cols.deal.push(a.1);
                    cols.member.push(a.2);
                    cols.kind.push(a.3);
                    cols.summary.push(a.4);
                    cols.satisfaction.push(a.5);
                    cols.happened_at.push(a.6);
                    exts.push(ext);
                    self.counts[0] += 1;
                }
                Ok(Err(r)) => self.refuse(row, r),
                Err(e) => return Err(e),
            }
        }
        let ws = self.world.ws;
        if cols.contact.is_empty() {
            return Ok(());
        }
        self.tx.defer_rollups(true).await?;
        let (ids, moved) = self.tx.insert_activities(ws, &cols).await?;
        // Not in a dry run: see `Later::write`.
        if !self.req.dry_run {
            self.tx.add_activity_rollups(ws, &ids).await?;
        }
        self.tx.defer_rollups(false).await?;
        for (i, id) in ids.iter().enumerate() {
            self.world
                .add_external(ImportEntity::Activity, &exts[i], *id);
        }
        let source = self.world.source;
        self.tx
            .insert_external_ids(ws, source, ImportEntity::Activity, &exts, &ids, self.import)
            .await?;
        self.created(ImportEntity::Activity, ids);
        self.tx.record_activity_bumps(ws, self.import, &moved).await
    }

    /// The contact an activity row is with: by email, else by name within the company the
    /// row names (two people of one name at two customers are two contacts), else by a name
    /// only one contact has. A name several companies' contacts share, on a row that names no
    /// company, is refused rather than guessed.
    fn activity_contact(&self, row: &Row) -> Result<i64, Refuse> {
        let unknown = |field| Refuse(field, Msg::new("import.why.unknown_contact"));
        if let Some(e) = email(row)? {
            return self
                .world
                .contact(None, Some(&e), None, None)
                .map(|c| c.id)
                .ok_or_else(|| unknown(Field::Email));
        }
        let Some(name) = contact_name(row)? else {
            return Err(Refuse(
                Field::Contact,
                Msg::new("import.why.no_contact_name"),
            ));
        };
        let company = if let Some(ext) = text(row, Field::CompanyId) {
            let c = self.world.company(Some(ext), None, None).ok_or_else(|| {
                Refuse(
                    Field::CompanyId,
                    Msg::new("import.why.unknown_account").arg("given", ext),
                )
            })?;
            Some(c.id)
        } else {
            let company = line_text(row, Field::Company, MAX_NAME_CHARS)?;
            let website = line_text(row, Field::Domain, 255)?;
            // The refusal points at the column that named the company.
            let named = match (&company, &website) {
                (Some(n), _) => Some((Field::Company, n.clone())),
                (None, Some(w)) => Some((Field::Domain, w.clone())),
                (None, None) => None,
            };
            match named {
                None => None,
                Some((field, given)) => {
                    // A company the workspace does not have has no contacts either.
                    let c = self
                        .world
                        .company(None, website.as_deref(), company.as_deref())
                        .ok_or_else(|| {
                            Refuse(
                                field,
                                Msg::new("import.why.unknown_company").arg("given", given),
                            )
                        })?;
                    Some(c.id)
                }
            }
        };
        let found = match company {
            Some(_) => Ok(self.world.contact(None, None, Some(&name), company)),
            None => self.world.contact_by_name_alone(&name),
        };
        match found {
            Ok(Some(c)) => Ok(c.id),
            Ok(None) => Err(unknown(Field::Contact)),
            Err(super::world::Ambiguous) => Err(Refuse(
                Field::Contact,
                Msg::new("import.why.ambiguous_contact").arg("given", name.as_str()),
            )),
        }
    }

    #[allow(clippy::type_complexity)]
    async fn plan_activity(
        &mut self,
        row: &Row,
    ) -> StoreResult<
        Result<
            (
                i64,
                Option<i64>,
                i64,
                String,
                String,
                Option<i16>,
                DateTime<Utc>,
            ),
            Refuse,
        >,
    > {
        let plan = (|| -> Result<_, Refuse> {
            let contact = self.activity_contact(row)?;
            let happened = date(row, Field::DueDate)
                .and_then(|d| self.world.instant(d))
                .ok_or_else(|| Refuse(Field::DueDate, Msg::new("import.why.no_activity_date")))?;
            let kind = activity_kind(text(row, Field::ActivityType).unwrap_or("note"));
            let summary = text(row, Field::Subject)
                .or(text(row, Field::Notes))
                .unwrap_or(kind)
                .to_string();
            let summary = crate::domain::text::block(&summary)
                .map_err(|e| Refuse(Field::Subject, text_problem(e)))?
                .chars()
                .take(1000)
                .collect::<String>();
            let satisfaction = match text(row, Field::Satisfaction) {
                None => None,
                Some(s) => match s.parse::<i16>() {
                    Ok(n) if (1..=5).contains(&n) => Some(n),
                    _ => {
                        return Err(Refuse(
                            Field::Satisfaction,
                            Msg::new("import.why.rating").arg("given", s),
                        ))
                    }
                },
            };
            Ok((contact, kind.to_string(), summary, satisfaction, happened))
        })();
        let (contact, kind, summary, satisfaction, happened) = match plan {
            Ok(p) => p,
            Err(r) => return Ok(Err(r)),
        };
        let member = match self.owner(row) {
            Ok(m) => m,
            Err(r) => return Ok(Err(r)),
        };
        let deal = match text(row, Field::Deal) {
            None => None,
            Some(d) => {
                let number = deal_number(d);
                let by_ext = source_id(self.world, row, Field::Deal)
                    .and_then(|e| self.world.external(ImportEntity::Deal, &e));
                let by_number = number
                    .filter(|_| number_names_deal(self.world, row))
                    .and_then(|n| self.world.deal_by_number(n));
                // A workspace's own export names its deals by number first, as its deals
                // file does; any other file by the ids its deals file brought.
                let found = if own_file(self.world, row) {
                    by_number.or(by_ext)
                } else {
                    by_ext.or(by_number)
                };
                match found {
                    Some(id) => Some(id),
                    None => {
                        return Ok(Err(Refuse(
                            Field::Deal,
                            Msg::new("import.why.unknown_deal").arg("given", d),
                        )))
                    }
                }
            }
        };
        Ok(Ok((
            contact,
            deal,
            member,
            kind,
            summary,
            satisfaction,
            happened,
        )))
    }
}

/// What a deal row says, checked.
struct DealPlan {
    owner: i64,
    /// Whether the row itself named the owner (not the import's default).
    owner_named: bool,
    stage: Stage,
    /// Whether the row named a stage or an outcome (not the first open stage by default).
    stage_named: bool,
    status: StageKind,
    title: Option<String>,
    amount: Option<i64>,
    product: Option<String>,
    expected_close: Option<chrono::NaiveDate>,
    closed_at: Option<DateTime<Utc>>,
    /// The column `closed_at` was read from, for a refusal that names it.
    closed_from: Field,
    created_at: DateTime<Utc>,
    lost_reason: Option<String>,
}

/// Activity types as other systems write them, in English and Chinese; anything else is a note.
fn activity_kind(t: &str) -> &'static str {
    let t = t.trim().to_lowercase();
    match t.as_str() {
        "call" | "phone" | "phone call" | "电话" | "通话" => "call",
        "email" | "e-mail" | "mail" | "邮件" | "电子邮件" => "email",
        "meeting" | "会议" | "开会" => "meeting",
        "visit" | "拜访" | "上门" => "visit",
        "message" | "chat" | "sms" | "消息" | "短信" | "微信" => "message",
        _ => "note",
    }
}
