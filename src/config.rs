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
    /// Where `/import` may download attachments from: host names (HTTPS only) or whole origins
    /// such as `http://127.0.0.1:4000` (tests). Discord's attachment hosts by default.
    pub attachment_hosts: Vec<String>,
    /// The largest attachment `/import` downloads, in bytes.
    pub import_max_bytes: u64,
    /// The largest file the bot uploads (Discord's limit for the server); bigger exports are
    /// compressed or split.
    pub upload_limit: usize,
}

/// The hosts Discord serves attachments from.
pub const DISCORD_ATTACHMENT_HOSTS: [&str; 2] = ["cdn.discordapp.com", "media.discordapp.net"];
/// `/import`'s attachment cap by default: 25 MB.
pub const DEFAULT_IMPORT_MAX_BYTES: u64 = 25 * 1000 * 1000;
/// Discord's upload limit for a bot in a server without boosts: 10 MiB.
pub const DEFAULT_UPLOAD_LIMIT: usize = 10 * 1024 * 1024;

impl DiscordConfig {
    /// Settings for `token` with every default: global registration, discord.com, Discord's
    /// attachment hosts and limits.
    pub fn new(token: impl Into<String>) -> DiscordConfig {
        DiscordConfig {
            token: token.into(),
            guild_id: None,
            api_base: None,
            attachment_hosts: DISCORD_ATTACHMENT_HOSTS.map(str::to_string).to_vec(),
            import_max_bytes: DEFAULT_IMPORT_MAX_BYTES,
            upload_limit: DEFAULT_UPLOAD_LIMIT,
        }
    }
}

fn number<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>> {
    match non_empty(name) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name} must be a number of bytes, not '{v}'")),
    }
}

impl fmt::Debug for DiscordConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordConfig")
            .field("token", &"***")
            .field("guild_id", &self.guild_id)
            .field("api_base", &self.api_base)
            .field("attachment_hosts", &self.attachment_hosts)
            .field("import_max_bytes", &self.import_max_bytes)
            .field("upload_limit", &self.upload_limit)
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
    /// `WEBHOOK_ALLOW_PRIVATE=true`: webhook endpoints may be loopback, private or link-local
    /// addresses (a test receiver, an ERP on the same network). Off by default, so an admin
    /// cannot point the bot at the server's own network.
    pub webhook_allow_private: bool,
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
                let defaults = DiscordConfig::new(token);
                Some(DiscordConfig {
                    guild_id,
                    api_base: non_empty("DISCORD_API_BASE"),
                    attachment_hosts: match non_empty("DISCORD_ATTACHMENT_HOSTS") {
                        Some(list) => list
                            .split(',')
                            .map(|h| h.trim().to_string())
                            .filter(|h| !h.is_empty())
                            .collect(),
                        None => defaults.attachment_hosts.clone(),
                    },
                    import_max_bytes: number("DISCORD_IMPORT_MAX_BYTES")?
                        .unwrap_or(defaults.import_max_bytes),
                    upload_limit: number("DISCORD_UPLOAD_LIMIT")?.unwrap_or(defaults.upload_limit),
                    ..defaults
                })
            }
        };
        Ok(Config {
            database_url: non_empty("DATABASE_URL")
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string()),
            discord,
            webhook_allow_private: flag("WEBHOOK_ALLOW_PRIVATE")?,
        })
    }
}

/// A yes/no setting: true, 1, yes or on; false, 0, no or off; absent is false.
fn flag(name: &str) -> anyhow::Result<bool> {
    match non_empty(name).map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("false" | "0" | "no" | "off") => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some(other) => anyhow::bail!("{name} must be true or false, not '{other}'"),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("discord", &self.discord)
            .field("webhook_allow_private", &self.webhook_allow_private)
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
            discord: Some(DiscordConfig::new("SECRET.TOKEN")),
            webhook_allow_private: false,
        };
        assert!(!format!("{c:?}").contains("SECRET.TOKEN"));
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
