//! API tokens for every front-end that manages them: `/settings api` in chat and
//! `salesbot token` on the server create, list and revoke them here, and the HTTP API
//! authenticates with [`authenticate`]. The token's text exists only in the answer to its
//! creation; the database keeps its hash.

use super::format::escape;
use super::{EngineError, EngineResult};
use crate::domain::text;
use crate::domain::token::{self, Scope};
use crate::i18n::Msg;
use crate::store::{Store, TokenRow, Tx};
use chrono::{DateTime, Utc};
use rand::RngCore;

/// The longest token name.
pub const MAX_NAME_CHARS: usize = 64;

/// A token just made: the only time its text is known.
pub struct NewToken {
    pub row: TokenRow,
    pub text: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("row", &self.row)
            .field("text", &"<hidden>")
            .finish()
    }
}

/// Checks a token name: the text rules every name follows, at most [`MAX_NAME_CHARS`].
pub fn check_name(name: &str) -> EngineResult<String> {
    let name = name.trim();
    text::line(name).map_err(|_| {
        EngineError::Invalid(Msg::new("api.token_name_bad").arg("max", MAX_NAME_CHARS))
    })?;
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(EngineError::Invalid(
            Msg::new("api.token_name_bad").arg("max", MAX_NAME_CHARS),
        ));
    }
    Ok(name.to_string())
}

/// Makes a token in `tx` (the caller commits). `created_by` is the admin who asked in chat.
pub async fn create_in(
    tx: &mut Tx,
    ws: i64,
    name: &str,
    scope: Scope,
    created_by: Option<i64>,
    now: DateTime<Utc>,
) -> EngineResult<NewToken> {
    let name = check_name(name)?;
    let mut random = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let text = token::format(&random);
    let row = tx
        .create_token(
            ws,
            &name,
            scope.as_str(),
            &token::hash(&text),
            created_by,
            now,
        )
        .await?
        .ok_or_else(|| {
            EngineError::Conflict(Msg::new("api.token_exists").arg("name", escape(&name)))
        })?;
    Ok(NewToken { row, text })
}

/// Makes a token in a transaction of its own (the server's `salesbot token create`). The
/// workspace must exist.
pub async fn create(
    store: &Store,
    ws: i64,
    name: &str,
    scope: Scope,
    now: DateTime<Utc>,
) -> EngineResult<NewToken> {
    let mut tx = store.begin().await?;
    if tx.workspace(ws).await?.is_none() {
        return Err(EngineError::NotFound(
            Msg::new("error.no_workspace").arg("workspace", ws),
        ));
    }
    let made = create_in(&mut tx, ws, name, scope, None, now).await?;
    tx.commit().await?;
    Ok(made)
}

/// Revokes a live token named by id or name; it stops working with the next request.
pub async fn revoke(
    store: &Store,
    ws: i64,
    which: &str,
    now: DateTime<Utc>,
) -> EngineResult<TokenRow> {
    let mut tx = store.begin().await?;
    let row = revoke_in(&mut tx, ws, which, now).await?;
    tx.commit().await?;
    Ok(row)
}

/// [`revoke`] inside the caller's transaction.
pub async fn revoke_in(
    tx: &mut Tx,
    ws: i64,
    which: &str,
    now: DateTime<Utc>,
) -> EngineResult<TokenRow> {
    let id = which.trim().parse::<i64>().ok();
    tx.revoke_token(ws, id, which.trim(), now)
        .await?
        .ok_or_else(|| {
            EngineError::NotFound(Msg::new("api.token_unknown").arg("token", escape(which.trim())))
        })
}

/// The live token whose hash this is, if any (the front-end refuses malformed text before
/// hashing it, so that it never reaches the database). A token acts with its maker's
/// authority: once the admin who made it is no longer one, it is refused until an admin makes
/// a new one (or its maker is an admin again).
pub async fn authenticate(
    store: &Store,
    hash: &[u8; 32],
    now: DateTime<Utc>,
) -> EngineResult<Option<TokenRow>> {
    let mut tx = store.begin().await?;
    let row = tx.token_by_hash(hash, now).await?;
    tx.commit().await?;
    match row {
        Some((token, false)) => Err(EngineError::Forbidden(
            // An HTTP answer, not chat: the name is shown as it was given.
            Msg::new("api.token_maker_not_admin").arg("token", token.name),
        )),
        Some((token, true)) => Ok(Some(token)),
        None => Ok(None),
    }
}
