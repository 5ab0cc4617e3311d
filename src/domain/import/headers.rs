//! What the columns mean: each system's own export recognised by its exact header set, any
//! other file by column names and aliases in English and Chinese, and the user's overrides.

use super::{Field, FileError, Kind, Source};

/// One system's export of one kind, recognised when every one of `headers` is present
/// (case-insensitively); the other columns of such a file map by the aliases below.
pub struct Signature {
    pub source: Source,
    pub kind: Kind,
    pub headers: &'static [(&'static str, Field)],
}

/// The header sets of each system's own export, as the system writes them.
pub const SIGNATURES: &[Signature] = &[
    Signature {
        source: Source::Salesforce,
        kind: Kind::Deals,
        headers: &[
            ("Id", Field::ExternalId),
            ("Name", Field::Title),
            ("AccountId", Field::CompanyId),
            ("Amount", Field::Amount),
            ("CloseDate", Field::CloseDate),
            ("StageName", Field::Stage),
            ("Probability", Field::Probability),
            ("CurrencyIsoCode", Field::Currency),
            ("OwnerId", Field::Owner),
        ],
    },
    Signature {
        source: Source::Salesforce,
        kind: Kind::Contacts,
        headers: &[
            ("Id", Field::ExternalId),
            ("AccountId", Field::CompanyId),
            ("FirstName", Field::FirstName),
            ("LastName", Field::LastName),
            ("Email", Field::Email),
            ("OwnerId", Field::Owner),
        ],
    },
    Signature {
        source: Source::Salesforce,
        kind: Kind::Companies,
        headers: &[
            ("Id", Field::ExternalId),
            ("Name", Field::Company),
            ("Website", Field::Domain),
            ("Industry", Field::Sector),
            ("OwnerId", Field::Owner),
        ],
    },
    Signature {
        source: Source::Pipedrive,
        kind: Kind::Deals,
        headers: &[
            ("Deal - Title", Field::Title),
            ("Deal - Value", Field::Amount),
            ("Person - Email", Field::Email),
            ("Organization - Name", Field::Company),
        ],
    },
    Signature {
        source: Source::Hubspot,
        kind: Kind::Deals,
        headers: &[
            ("Record ID", Field::ExternalId),
            ("Deal Name", Field::Title),
            ("Deal Stage", Field::Stage),
            ("Pipeline", Field::Pipeline),
            ("Amount", Field::Amount),
            ("Close Date", Field::CloseDate),
            ("Deal owner", Field::Owner),
            ("Create Date", Field::CreatedDate),
        ],
    },
    Signature {
        source: Source::Zoho,
        kind: Kind::Deals,
        headers: &[
            ("Deal Name", Field::Title),
            ("Account Name", Field::Company),
            ("Stage", Field::Stage),
            ("Amount", Field::Amount),
            ("Closing Date", Field::CloseDate),
            ("Deal Owner", Field::Owner),
        ],
    },
    // salesbot's own deals export (`engine/export.rs` `ExportKind::Deals.header()`): a test
    // checks that the export writes every one of these.
    Signature {
        source: Source::Salesbot,
        kind: Kind::Deals,
        headers: &[
            ("number", Field::ExternalId),
            ("title", Field::Title),
            ("stage", Field::Stage),
            ("status", Field::Status),
            ("amount", Field::Amount),
            ("currency", Field::Currency),
            ("company", Field::Company),
            ("contact", Field::Contact),
            ("contact_email", Field::Email),
            ("owner_id", Field::Owner),
            ("expected_close", Field::CloseDate),
            ("created_at_utc", Field::CreatedDate),
            ("closed_at_utc", Field::ClosedAt),
            ("lost_reason", Field::LostReason),
        ],
    },
    Signature {
        source: Source::Salesbot,
        kind: Kind::Contacts,
        headers: &[
            ("contact_id", Field::ExternalId),
            ("name", Field::Contact),
            ("email", Field::Email),
            ("phone", Field::Phone),
            ("title", Field::JobTitle),
            ("company", Field::Company),
            ("owner_id", Field::Owner),
            ("birthday", Field::Birthday),
            ("contract_end", Field::ContractEnd),
            ("tags", Field::Tags),
            ("created_at_utc", Field::CreatedDate),
        ],
    },
    Signature {
        source: Source::Salesbot,
        kind: Kind::Companies,
        headers: &[
            ("company_id", Field::ExternalId),
            ("name", Field::Company),
            ("industry", Field::Sector),
            ("tier", Field::Tier),
            ("website", Field::Domain),
            ("owner_id", Field::Owner),
            ("contract_end", Field::ContractEnd),
            ("tags", Field::Tags),
            ("created_at_utc", Field::CreatedDate),
        ],
    },
    Signature {
        source: Source::Salesbot,
        kind: Kind::Activities,
        headers: &[
            ("activity_id", Field::ExternalId),
            ("happened_at_utc", Field::DueDate),
            ("kind", Field::ActivityType),
            ("contact", Field::Contact),
            ("contact_email", Field::Email),
            ("deal_number", Field::Deal),
            ("member_id", Field::Owner),
            ("summary", Field::Subject),
            ("satisfaction", Field::Satisfaction),
        ],
    },
];

/// Column names any spreadsheet might use, in the normalized form [`key`] gives.
const ALIASES: &[(&str, Field)] = &[
    ("id", Field::ExternalId),
    ("record id", Field::ExternalId),
    ("deal id", Field::ExternalId),
    ("opportunity id", Field::ExternalId),
    ("external id", Field::ExternalId),
    ("编号", Field::ExternalId),
    ("商机编号", Field::ExternalId),
    ("title", Field::Title),
    ("name", Field::Title),
    ("deal", Field::Title),
    ("deal name", Field::Title),
    ("deal title", Field::Title),
    ("opportunity", Field::Title),
    ("opportunity name", Field::Title),
    ("商机", Field::Title),
    ("商机名称", Field::Title),
    ("名称", Field::Title),
    ("标题", Field::Title),
    ("company", Field::Company),
    ("company name", Field::Company),
    ("account", Field::Company),
    ("account name", Field::Company),
    ("organization", Field::Company),
    ("organization name", Field::Company),
    ("customer", Field::Company),
    ("公司", Field::Company),
    ("公司名称", Field::Company),
    ("客户", Field::Company),
    ("客户名称", Field::Company),
    ("account id", Field::CompanyId),
    ("accountid", Field::CompanyId),
    ("company id", Field::CompanyId),
    ("organization id", Field::CompanyId),
    ("amount", Field::Amount),
    ("value", Field::Amount),
    ("deal value", Field::Amount),
    ("close value", Field::Amount),
    ("金额", Field::Amount),
    ("成交金额", Field::Amount),
    ("合同金额", Field::Amount),
    ("currency", Field::Currency),
    ("currencyisocode", Field::Currency),
    ("deal currency", Field::Currency),
    ("币种", Field::Currency),
    ("货币", Field::Currency),
    ("stage", Field::Stage),
    ("deal stage", Field::Stage),
    ("stagename", Field::Stage),
    ("stage name", Field::Stage),
    ("sales stage", Field::Stage),
    ("阶段", Field::Stage),
    ("销售阶段", Field::Stage),
    ("status", Field::Status),
    ("deal status", Field::Status),
    ("状态", Field::Status),
    ("probability", Field::Probability),
    ("deal probability", Field::Probability),
    ("赢率", Field::Probability),
    ("close date", Field::CloseDate),
    ("closedate", Field::CloseDate),
    ("closing date", Field::CloseDate),
    ("expected close date", Field::CloseDate),
    ("deal expected close date", Field::CloseDate),
    ("成交日期", Field::CloseDate),
    ("结单日期", Field::CloseDate),
    ("预计成交日期", Field::CloseDate),
    ("create date", Field::CreatedDate),
    ("created date", Field::CreatedDate),
    ("createddate", Field::CreatedDate),
    ("created", Field::CreatedDate),
    ("created at", Field::CreatedDate),
    ("created time", Field::CreatedDate),
    ("deal created", Field::CreatedDate),
    ("engage date", Field::CreatedDate),
    ("创建日期", Field::CreatedDate),
    ("创建时间", Field::CreatedDate),
    ("owner", Field::Owner),
    ("owner id", Field::Owner),
    ("ownerid", Field::Owner),
    ("deal owner", Field::Owner),
    ("sales agent", Field::Owner),
    ("sales rep", Field::Owner),
    ("assigned to", Field::Owner),
    ("负责人", Field::Owner),
    ("销售", Field::Owner),
    ("销售代表", Field::Owner),
    ("contact", Field::Contact),
    ("contact name", Field::Contact),
    ("person", Field::Contact),
    ("person name", Field::Contact),
    ("联系人", Field::Contact),
    ("姓名", Field::Contact),
    ("first name", Field::FirstName),
    ("firstname", Field::FirstName),
    ("名", Field::FirstName),
    ("last name", Field::LastName),
    ("lastname", Field::LastName),
    ("姓", Field::LastName),
    ("email", Field::Email),
    ("e mail", Field::Email),
    ("email address", Field::Email),
    ("person email", Field::Email),
    ("邮箱", Field::Email),
    ("电子邮件", Field::Email),
    ("phone", Field::Phone),
    ("phone number", Field::Phone),
    ("mobile", Field::Phone),
    ("person phone", Field::Phone),
    ("电话", Field::Phone),
    ("手机", Field::Phone),
    ("domain", Field::Domain),
    ("website", Field::Domain),
    ("company domain name", Field::Domain),
    ("网站", Field::Domain),
    ("域名", Field::Domain),
    ("product", Field::Product),
    ("product name", Field::Product),
    ("产品", Field::Product),
    ("pipeline", Field::Pipeline),
    ("sector", Field::Sector),
    ("industry", Field::Sector),
    ("行业", Field::Sector),
    ("notes", Field::Notes),
    ("note", Field::Notes),
    ("description", Field::Notes),
    ("备注", Field::Notes),
    ("activity type", Field::ActivityType),
    ("activity", Field::ActivityType),
    ("subject", Field::Subject),
    ("due date", Field::DueDate),
    ("活动类型", Field::ActivityType),
    ("主题", Field::Subject),
    ("activity date", Field::DueDate),
    ("happened at", Field::DueDate),
    ("活动日期", Field::DueDate),
    ("price", Field::Price),
    ("list price", Field::Price),
    ("sales price", Field::Price),
    ("unit price", Field::Price),
    ("价格", Field::Price),
    ("单价", Field::Price),
    ("标价", Field::Price),
    ("closed at", Field::ClosedAt),
    ("closed date", Field::ClosedAt),
    ("actual close date", Field::ClosedAt),
    ("实际成交日期", Field::ClosedAt),
    ("lost reason", Field::LostReason),
    ("丢单原因", Field::LostReason),
    ("输单原因", Field::LostReason),
    ("tags", Field::Tags),
    ("tag", Field::Tags),
    ("标签", Field::Tags),
    ("deal number", Field::Deal),
    ("satisfaction", Field::Satisfaction),
    ("满意度", Field::Satisfaction),
    ("job title", Field::JobTitle),
    ("position", Field::JobTitle),
    ("职位", Field::JobTitle),
    ("职务", Field::JobTitle),
    ("birthday", Field::Birthday),
    ("birthdate", Field::Birthday),
    ("date of birth", Field::Birthday),
    ("生日", Field::Birthday),
    ("出生日期", Field::Birthday),
    ("contract end", Field::ContractEnd),
    ("contract end date", Field::ContractEnd),
    ("renewal date", Field::ContractEnd),
    ("合同到期", Field::ContractEnd),
    ("合同到期日", Field::ContractEnd),
    ("合同结束日期", Field::ContractEnd),
    ("tier", Field::Tier),
    ("account tier", Field::Tier),
    ("workspace id", Field::Workspace),
    ("customer tier", Field::Tier),
    ("客户级别", Field::Tier),
    ("级别", Field::Tier),
    // Pipedrive writes every deal column as `Deal - ...`, HubSpot and Zoho their own names.
    ("deal deal created", Field::CreatedDate),
    ("deal deal closed on", Field::ClosedAt),
    ("deal lost reason", Field::LostReason),
    ("deal organization", Field::Company),
    ("deal contact person", Field::Contact),
    ("associated company", Field::Company),
    ("associated contact", Field::Contact),
];

/// A header in the form aliases are written in: lower case, every run of anything but letters
/// and digits one space, so `Deal - Title`, `deal_title` and `Deal Title` meet.
pub(super) fn key(header: &str) -> String {
    header
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What each column of a file means, and which system wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub source: Source,
    pub kind: Kind,
    /// `(column index, field)`; a field appears at most once.
    pub columns: Vec<(usize, Field)>,
    /// Headers no rule or override gave a meaning to, for the preview.
    pub unmapped: Vec<String>,
}

/// One `Their Column=our_field` override, already parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    pub column: String,
    pub field: Field,
}

impl std::str::FromStr for Override {
    type Err = FileError;

    fn from_str(text: &str) -> Result<Override, FileError> {
        let (column, field) = text
            .rsplit_once('=')
            .ok_or_else(|| FileError::BadOverride(text.to_string()))?;
        let field = Field::from_name(field.trim())
            .ok_or_else(|| FileError::UnknownField(field.trim().to_string()))?;
        if column.trim().is_empty() {
            return Err(FileError::BadOverride(text.to_string()));
        }
        Ok(Override {
            column: column.trim().to_string(),
            field,
        })
    }
}

/// Column names that stand for a field only where no other column does: a contact's company
/// is the row's company in an activities file (salesbot's export, where it tells two people
/// of one name apart), but never the deal's own company beside an account column.
const FALLBACK_ALIASES: &[(&str, Field)] = &[("contact company", Field::Company)];

/// Maps `headers`: overrides first, then the most specific system signature that matches (or
/// the one for `source` and `kind` when given), then aliases for every column still open.
pub(super) fn map(
    headers: &[String],
    source: Option<Source>,
    kind: Option<Kind>,
    overrides: &[Override],
) -> Result<Mapping, FileError> {
    let lower: Vec<String> = headers.iter().map(|h| h.trim().to_lowercase()).collect();
    let mut fields: Vec<Option<Field>> = vec![None; headers.len()];
    for o in overrides {
        let wanted = key(&o.column);
        let i = headers
            .iter()
            .position(|h| key(h) == wanted)
            .ok_or_else(|| FileError::UnknownColumn(o.column.clone()))?;
        fields[i] = Some(o.field);
    }
    let signature = SIGNATURES
        .iter()
        .filter(|s| source.is_none_or(|w| w == s.source) && kind.is_none_or(|k| k == s.kind))
        .filter(|s| {
            s.headers
                .iter()
                .all(|(h, _)| lower.iter().any(|l| *l == h.to_lowercase()))
        })
        .max_by_key(|s| s.headers.len());
    if let Some(sig) = signature {
        for (h, field) in sig.headers {
            if let Some(i) = lower.iter().position(|l| *l == h.to_lowercase()) {
                fields[i].get_or_insert(*field);
            }
        }
    }
    for (i, header) in headers.iter().enumerate() {
        if fields[i].is_none() {
            let k = key(header);
            fields[i] = ALIASES.iter().find(|(a, _)| *a == k).map(|(_, f)| *f);
        }
    }
    for (i, header) in headers.iter().enumerate() {
        if fields[i].is_none() {
            let k = key(header);
            fields[i] = FALLBACK_ALIASES
                .iter()
                .find(|(a, f)| *a == k && !fields.contains(&Some(*f)))
                .map(|(_, f)| *f);
        }
    }
    let mut columns: Vec<(usize, Field)> = Vec::new();
    let mut unmapped = Vec::new();
    for (i, field) in fields.into_iter().enumerate() {
        match field {
            Some(f) if columns.iter().all(|(_, g)| *g != f) => columns.push((i, f)),
            _ => unmapped.push(headers[i].clone()),
        }
    }
    let kind = match (kind, signature) {
        (Some(k), _) => k,
        (None, Some(sig)) => sig.kind,
        (None, None) => guess_kind(&columns).ok_or(FileError::UnknownKind)?,
    };
    // A contact's or company's own field in a file of another kind (a deals file's "Renewal
    // Date") is read by nothing: left unmapped, so none of its cells can refuse a row or
    // stop the file.
    let (kept, foreign): (Vec<_>, Vec<_>) =
        columns.into_iter().partition(|(_, f)| f.applies_to(kind));
    columns = kept;
    unmapped.extend(foreign.into_iter().map(|(i, _)| headers[i].clone()));
    if signature.is_none() {
        // A plain `name` column names what the file is about.
        let named = match kind {
            Kind::Contacts => Some(Field::Contact),
            Kind::Companies => Some(Field::Company),
            Kind::Products => Some(Field::Product),
            _ => None,
        };
        if let Some(named) = named.filter(|n| columns.iter().all(|(_, f)| f != n)) {
            for (_, f) in columns.iter_mut().filter(|(_, f)| *f == Field::Title) {
                *f = named;
            }
        }
    }
    Ok(Mapping {
        source: signature.map_or(source.unwrap_or(Source::Other), |s| s.source),
        kind,
        columns,
        unmapped,
    })
}

/// The kind a file with no signature holds, from the fields it has.
fn guess_kind(columns: &[(usize, Field)]) -> Option<Kind> {
    let has = |f: Field| columns.iter().any(|(_, g)| *g == f);
    if [Field::Amount, Field::Stage, Field::Status, Field::CloseDate]
        .into_iter()
        .any(has)
    {
        Some(Kind::Deals)
    } else if [Field::ActivityType, Field::Subject, Field::DueDate]
        .into_iter()
        .any(has)
    {
        Some(Kind::Activities)
    } else if [
        Field::Email,
        Field::Contact,
        Field::FirstName,
        Field::LastName,
    ]
    .into_iter()
    .any(has)
    {
        Some(Kind::Contacts)
    } else if [Field::Company, Field::Domain].into_iter().any(has) {
        Some(Kind::Companies)
    } else if [Field::Product, Field::Price].into_iter().any(has) {
        Some(Kind::Products)
    } else {
        None
    }
}
