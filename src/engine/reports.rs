//! The reports other front-ends ask for by name (`salesbot report`, `/v1/reports/...`): each
//! is the slash command it stands for, built here so every door asks the same question.

use super::{Invocation, OptionValue};

/// The reports with a JSON form (also `salesbot report`'s first argument, hence clap's
/// derive: the names are the same at every door).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportKind {
    /// `/pipeline stats`.
    Pipeline,
    /// `/kpi`.
    Kpi,
    /// `/report trends`.
    Trends,
    /// `/report products`.
    Products,
    /// `/report customers`.
    Customers,
    /// `/forecast show`.
    Forecast,
}

impl ReportKind {
    /// The report of that name: `pipeline`, `kpi`, `trends`, `products`, `customers`,
    /// `forecast`.
    pub fn parse(name: &str) -> Option<ReportKind> {
        Some(match name {
            "pipeline" => ReportKind::Pipeline,
            "kpi" => ReportKind::Kpi,
            "trends" => ReportKind::Trends,
            "products" => ReportKind::Products,
            "customers" => ReportKind::Customers,
            "forecast" => ReportKind::Forecast,
            _ => return None,
        })
    }

    /// The command, subcommand and the name of its member option.
    pub fn command(self) -> (&'static str, Option<&'static str>, &'static str) {
        match self {
            ReportKind::Pipeline => ("pipeline", Some("stats"), "owner"),
            ReportKind::Kpi => ("kpi", None, "member"),
            ReportKind::Trends => ("report", Some("trends"), "member"),
            ReportKind::Products => ("report", Some("products"), "member"),
            ReportKind::Customers => ("report", Some("customers"), "member"),
            ReportKind::Forecast => ("forecast", Some("show"), "member"),
        }
    }
}

/// A report's parameters, as every front-end names them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportParams {
    pub period: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Only this member's figures (user id).
    pub member: Option<u64>,
    /// Trend buckets: `week` or `month`.
    pub by: Option<String>,
}

/// The slash command a report is, validated by the engine like any other.
pub fn invocation(kind: ReportKind, p: &ReportParams) -> Invocation {
    let (command, subcommand, member_option) = kind.command();
    let mut options = Vec::new();
    for (name, value) in [
        ("period", &p.period),
        ("from", &p.from),
        ("to", &p.to),
        ("by", &p.by),
    ] {
        if let Some(v) = value {
            options.push((name.to_string(), OptionValue::String(v.clone())));
        }
    }
    if let Some(m) = p.member {
        options.push((member_option.to_string(), OptionValue::User(m)));
    }
    Invocation {
        command: command.to_string(),
        subcommand: subcommand.map(str::to_string),
        options,
    }
}
