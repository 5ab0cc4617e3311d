//! Typed settings from the environment. Secrets never appear in `Debug` output or errors.

use std::fmt;

/// The database used when `DATABASE_URL` is not set: the local Postgres of a fresh machine.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@localhost:5432/salesbot";

/// Discord settings from the environment.
#[derive(Clone)]
pub struct DiscordConfig {
    /// The bot token; never printed.
    pub token: String,
    /// Register commands to this guild only (instant, for development) instead of globally.
    pub guild_id: Option<u64>,
    /// Send REST calls (and so the gateway lookup) to this base instead of discord.com.
    pub api_base: Option<String>,
}

impl fmt::Debug for DiscordConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordConfig")
            .field("token", &"***")
            .field("guild_id", &self.guild_id)
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// Settings read once at start.
#[derive(Clone)]
pub struct Config {
    /// Postgres connection string.
    pub database_url: String,
    /// Discord settings, when `DISCORD_TOKEN` is set.
    pub discord: Option<DiscordConfig>,
}

fn non_empty(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

impl Config {
    /// Reads the environment. A malformed `DISCORD_GUILD_ID` is an error rather than a silent
    /// global registration.
    pub fn from_env() -> anyhow::Result<Config> {
        let discord = match non_empty("DISCORD_TOKEN") {
            None => None,
            Some(token) => {
                let guild_id = match non_empty("DISCORD_GUILD_ID") {
                    None => None,
                    Some(g) => Some(g.parse::<u64>().map_err(|_| {
                        anyhow::anyhow!(
                            "DISCORD_GUILD_ID must be a server id (a number), not '{g}'"
                        )
                    })?),
                };
                Some(DiscordConfig {
                    token,
                    guild_id,
                    api_base: non_empty("DISCORD_API_BASE"),
                })
            }
        };
        Ok(Config {
            database_url: non_empty("DATABASE_URL")
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string()),
            discord,
        })
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("discord", &self.discord)
            .finish()
    }
}

/// The URL with any password replaced, safe to print.
pub fn redact_url(url: &str) -> String {
    // scheme://user:password@host/... -> scheme://user:***@host/...
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        let cases = [
            (
                "postgres://postgres@localhost:5432/salesbot",
                "postgres://postgres@localhost:5432/salesbot",
            ),
            (
                "postgres://bob:s3cret@db:5432/x",
                "postgres://bob:***@db:5432/x",
            ),
            ("postgres://bob:p@ss@db/x", "postgres://bob:***@db/x"),
            ("not a url", "not a url"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want);
        }
        let c = Config {
            database_url: "postgres://a:hunter2@h/d".into(),
            discord: Some(DiscordConfig {
                token: "SECRET.TOKEN".into(),
                guild_id: None,
                api_base: None,
            }),
        };
        assert!(!format!("{c:?}").contains("SECRET.TOKEN"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
