//! Turning failures into replies a person can act on: what was wrong, and what is accepted,
//! shown only to the person who typed it.

use super::{EngineError, Reply};
use crate::domain::locale::Locale;
use crate::domain::money::MoneyError;
use crate::domain::period::PeriodError;
use crate::domain::refs::RefError;
use crate::domain::stage::StageError;
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

/// An amount that did not parse.
pub fn money(option: &str, e: MoneyError, currency: &str) -> EngineError {
    let accepted = Msg::new("accepted.amount").arg("currency", currency);
    let problem = match e {
        MoneyError::Empty => Msg::new("problem.empty"),
        MoneyError::Unrecognized(given) => Msg::new("problem.unrecognized").arg("given", given),
        MoneyError::Negative => Msg::new("problem.negative"),
        MoneyError::TooLarge { .. } => Msg::new("problem.too_large"),
        MoneyError::TooPrecise { max_decimals } => {
            Msg::new("problem.too_precise").arg("max", max_decimals)
        }
        MoneyError::CurrencyMismatch { given, expected } => Msg::new("problem.currency_mismatch")
            .arg("given", given)
            .arg("expected", expected),
        MoneyError::UnknownCurrency(given) => {
            Msg::new("problem.unknown_currency").arg("given", given)
        }
    };
    invalid(option, problem, accepted)
}

/// A time or date that did not parse.
pub fn when(option: &str, e: WhenError, accepted_key: &'static str) -> EngineError {
    let problem = match e {
        WhenError::Empty => Msg::new("problem.empty"),
        WhenError::Unrecognized(given) => Msg::new("problem.unrecognized").arg("given", given),
        WhenError::InPast(given) => Msg::new("problem.in_past").arg("given", given),
        WhenError::TooFar(given) => Msg::new("problem.too_far").arg("given", given),
        WhenError::InvalidDate(given) => Msg::new("problem.invalid_date").arg("given", given),
        WhenError::UnknownTimeZone { given, suggestion } => match suggestion {
            Some(s) => Msg::new("problem.unknown_tz_suggest")
                .arg("given", given)
                .arg("suggestion", s),
            None => Msg::new("problem.unknown_tz").arg("given", given),
        },
    };
    invalid(option, problem, Msg::new(accepted_key))
}

/// A reference that did not parse.
pub fn reference(option: &str, e: RefError, accepted_key: &'static str) -> EngineError {
    invalid(
        option,
        Msg::new("problem.unrecognized").arg("given", ref_input(&e)),
        Msg::new(accepted_key),
    )
}

fn ref_input(e: &RefError) -> String {
    match e {
        RefError::TooLong { len, .. } => format!("{len}"),
        RefError::TooManyTags { count, .. } => format!("{count}"),
        other => other.input().unwrap_or_default().to_string(),
    }
}

/// A stage name that matched nothing or several.
pub fn stage(option: &str, e: StageError) -> EngineError {
    match e {
        StageError::Unknown {
            given,
            suggestion,
            all,
        } => {
            let problem = match suggestion {
                Some(s) => Msg::new("problem.unknown_stage_suggest")
                    .arg("given", given)
                    .arg("suggestion", s),
                None => Msg::new("problem.unknown_stage").arg("given", given),
            };
            invalid(
                option,
                problem,
                Msg::new("accepted.stages").arg("stages", all.join(", ")),
            )
        }
        StageError::Ambiguous { given, candidates } => invalid(
            option,
            Msg::new("problem.ambiguous").arg("given", given),
            Msg::new("accepted.stages").arg("stages", candidates.join(", ")),
        ),
        other => invalid(
            option,
            Msg::new("problem.unrecognized").arg("given", other.to_string()),
            Msg::new("accepted.stage_name"),
        ),
    }
}

/// A period that did not parse.
pub fn period(option: &str, e: PeriodError) -> EngineError {
    invalid(
        option,
        Msg::new("problem.unrecognized").arg("given", e.to_string()),
        Msg::new("accepted.period"),
    )
}

/// A free-text problem with a named option.
pub fn option(option: &str, problem: Msg, accepted: Msg) -> EngineError {
    invalid(option, problem, accepted)
}
