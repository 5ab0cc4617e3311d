//! Turning failures into replies a person can act on: what was wrong, and what is accepted,
//! shown only to the person who typed it. Every text comes from the catalog, never from an
//! error's `Display` (which is English, for logs).

use super::format::escape;
use super::{EngineError, Reply};
use crate::domain::analytics::LinesTooLarge;
use crate::domain::locale::Locale;
use crate::domain::money::MoneyError;
use crate::domain::period::PeriodError;
use crate::domain::refs::RefError;
use crate::domain::stage::{StageError, StageName};
use crate::domain::text::TextError;
use crate::domain::when::WhenError;
use crate::i18n::Msg;

/// The ephemeral reply for a failed request.
pub fn error_reply(e: &EngineError, locale: Locale) -> Reply {
    let text = match e {
        EngineError::Invalid(m)
        | EngineError::NotFound(m)
        | EngineError::Forbidden(m)
        | EngineError::Conflict(m) => m.render(locale),
        EngineError::Duplicate => Msg::new("error.duplicate").render(locale),
        EngineError::Unavailable => Msg::new("error.unavailable").render(locale),
        EngineError::Contention(_) => Msg::new("error.busy").render(locale),
        EngineError::Unexpected(err) => {
            tracing::error!(error = ?err, "command failed unexpectedly");
            Msg::new("error.unexpected").render(locale)
        }
    };
    Reply::private(format!("⚠️ {text}"))
}

fn invalid(option: &str, problem: Msg, accepted: Msg) -> EngineError {
    EngineError::Invalid(
        Msg::new("error.invalid_option")
            .arg("option", option)
            .arg_msg("problem", problem)
            .arg_msg("accepted", accepted),
    )
}

/// An amount that did not parse or is past the cap; `limit` is the cap ([`MAX_MINOR`]) as the
/// caller's workspace shows money.
///
/// [`MAX_MINOR`]: crate::domain::money::MAX_MINOR
pub fn money(option: &str, e: MoneyError, currency: &str, limit: &str) -> EngineError {
    let accepted = Msg::new("accepted.amount").arg("currency", currency);
    invalid(option, money_problem(e, limit), accepted)
}

/// What is wrong with an amount, in words; `limit` is the cap as the workspace shows money.
pub fn money_problem(e: MoneyError, limit: &str) -> Msg {
    match e {
        MoneyError::Empty => Msg::new("problem.empty"),
        MoneyError::Unrecognized(given) => {
            Msg::new("problem.unrecognized").arg("given", escape(&given))
        }
        MoneyError::Negative => Msg::new("problem.negative"),
        MoneyError::TooLarge { .. } => Msg::new("problem.too_large").arg("max", limit),
        MoneyError::TooPrecise { max_decimals } => {
            Msg::new("problem.too_precise").arg("max", max_decimals)
        }
        MoneyError::CurrencyMismatch { given, expected } => Msg::new("problem.currency_mismatch")
            .arg("given", escape(&given))
            .arg("expected", expected),
        MoneyError::UnknownCurrency(given) => {
            Msg::new("problem.unknown_currency").arg("given", escape(&given))
        }
    }
}

/// Product lines whose value goes past the cap: names the line (or says it is the total) and
/// the cap, and says what is accepted. `lines` are the products' names in input order.
pub fn lines_too_large(
    option: &str,
    e: LinesTooLarge,
    lines: &[&str],
    limit: &str,
    currency: &str,
) -> EngineError {
    let key = match (e.line.is_some(), e.at_list) {
        (true, false) => "problem.line_too_large",
        (true, true) => "problem.line_too_large_at_list",
        (false, false) => "problem.lines_too_large",
        (false, true) => "problem.lines_too_large_at_list",
    };
    let product = e.line.and_then(|i| lines.get(i)).copied().unwrap_or("");
    invalid(
        option,
        Msg::new(key)
            .arg("product", escape(product))
            .arg("max", limit),
        Msg::new("accepted.line_values")
            .arg("max", limit)
            .arg("currency", currency),
    )
}

/// A currency code that is not ISO 4217.
pub fn currency_code(option: &str, given: &str) -> EngineError {
    invalid(
        option,
        Msg::new("problem.unknown_currency").arg("given", escape(given)),
        Msg::new("accepted.currency_code"),
    )
}

/// A time or date that did not parse.
pub fn when(option: &str, e: WhenError, accepted_key: &'static str) -> EngineError {
    let problem = match e {
        WhenError::Empty => Msg::new("problem.empty"),
        WhenError::Unrecognized(given) => {
            Msg::new("problem.unrecognized").arg("given", escape(&given))
        }
        WhenError::InPast(given) => Msg::new("problem.in_past").arg("given", escape(&given)),
        WhenError::InFuture(given) => Msg::new("problem.in_future").arg("given", escape(&given)),
        WhenError::TooFar(given) => Msg::new("problem.too_far").arg("given", escape(&given)),
        // One variant covers `2026-02-30` and `25:99`; say "time" where a time was asked for.
        WhenError::InvalidDate(given) if accepted_key == "accepted.clock" => {
            Msg::new("problem.invalid_time").arg("given", escape(&given))
        }
        WhenError::InvalidDate(given) => {
            Msg::new("problem.invalid_date").arg("given", escape(&given))
        }
        WhenError::UnknownTimeZone { given, suggestion } => match suggestion {
            Some(s) => Msg::new("problem.unknown_tz_suggest")
                .arg("given", escape(&given))
                .arg("suggestion", s),
            None => Msg::new("problem.unknown_tz").arg("given", escape(&given)),
        },
    };
    invalid(option, problem, Msg::new(accepted_key))
}

/// A reference that did not parse.
pub fn reference(option: &str, e: RefError, accepted_key: &'static str) -> EngineError {
    let problem = match &e {
        RefError::Empty => Msg::new("problem.empty"),
        RefError::TooLong { len, max } => Msg::new("problem.too_long")
            .arg("given", len)
            .arg("max", max),
        RefError::TooManyTags { max, .. } => Msg::new("problem.too_many_tags").arg("max", max),
        RefError::RoleMention(given) => {
            Msg::new("problem.role_mention").arg("given", escape(given))
        }
        other => {
            Msg::new("problem.unrecognized").arg("given", escape(other.input().unwrap_or_default()))
        }
    };
    invalid(option, problem, Msg::new(accepted_key))
}

/// A stage name that matched nothing or several, or a new name that is not acceptable.
pub fn stage(option: &str, e: StageError) -> EngineError {
    let name_rules = || Msg::new("accepted.stage_name");
    match e {
        StageError::Unknown {
            given,
            suggestion,
            all,
        } => {
            let problem = match suggestion {
                Some(s) => Msg::new("problem.unknown_stage_suggest")
                    .arg("given", escape(&given))
                    .arg("suggestion", escape(&s)),
                None => Msg::new("problem.unknown_stage").arg("given", escape(&given)),
            };
            invalid(
                option,
                problem,
                Msg::new("accepted.stages").arg("stages", escape(&all.join(", "))),
            )
        }
        StageError::Ambiguous { given, candidates } => invalid(
            option,
            Msg::new("problem.ambiguous").arg("given", escape(&given)),
            Msg::new("accepted.stages").arg("stages", escape(&candidates.join(", "))),
        ),
        StageError::EmptyName => invalid(option, Msg::new("problem.empty"), name_rules()),
        StageError::NameTooLong { chars, .. } => invalid(
            option,
            Msg::new("problem.too_long")
                .arg("given", chars)
                .arg("max", StageName::MAX_CHARS),
            name_rules(),
        ),
        StageError::NameHasControlChars(_) => {
            invalid(option, Msg::new("problem.control_chars"), name_rules())
        }
        StageError::NameHasMention(_) => invalid(option, Msg::new("problem.mention"), name_rules()),
        StageError::NameUntypable(_) => {
            invalid(option, Msg::new("problem.stage_untypable"), name_rules())
        }
    }
}

/// A name or note refused by [`crate::domain::text`]: empty, only invisible characters,
/// direction or zero-width characters, control characters.
pub fn text(option: &str, e: TextError) -> EngineError {
    let problem = match e {
        TextError::Empty => "problem.empty",
        TextError::Invisible => "problem.invisible",
        TextError::Hidden => "problem.hidden_chars",
        TextError::Control => "problem.control_chars",
    };
    invalid(option, Msg::new(problem), Msg::new("accepted.visible_text"))
}

/// A period that did not parse.
pub fn period(option: &str, e: PeriodError) -> EngineError {
    let problem = match e {
        PeriodError::Unknown(given) => {
            Msg::new("problem.unrecognized").arg("given", escape(&given))
        }
        PeriodError::Reversed { from, to } => Msg::new("problem.period_reversed")
            .arg("from", from)
            .arg("to", to),
        PeriodError::TooLong { from, to } => Msg::new("problem.period_too_long")
            .arg("from", from)
            .arg("to", to),
    };
    invalid(option, problem, Msg::new("accepted.period"))
}

/// A free-text problem with a named option.
pub fn option(option: &str, problem: Msg, accepted: Msg) -> EngineError {
    invalid(option, problem, accepted)
}
