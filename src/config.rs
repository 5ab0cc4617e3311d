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
    /// Which gateway shards this process runs.
    pub shards: Shards,
}

/// The gateway shards a process runs (`SHARD_TOTAL` with `SHARD_START`/`SHARD_END` or
/// `SHARD_IDS`). Discord requires sharding from 2,500 servers on; each process then receives
/// only its shards' servers' events, while any process sends DMs and channel posts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shards {
    /// One shard, the whole bot (no `SHARD_TOTAL`).
    Single,
    /// As many as Discord recommends, all in this process (`SHARD_TOTAL=auto`).
    Auto,
    /// Shards `start..=end` of `total`.
    Range { start: u32, end: u32, total: u32 },
}

impl Shards {
    /// Reads `SHARD_TOTAL` (a number or `auto`), then `SHARD_IDS` (`3-5` or `3,4,5`,
    /// consecutive) or `SHARD_START` and `SHARD_END` (inclusive; default all of them).
    pub fn parse(
        total: Option<&str>,
        ids: Option<&str>,
        start: Option<&str>,
        end: Option<&str>,
    ) -> anyhow::Result<Shards> {
        let Some(total) = total else {
            anyhow::ensure!(
                ids.is_none() && start.is_none() && end.is_none(),
                "SHARD_IDS, SHARD_START and SHARD_END need SHARD_TOTAL"
            );
            return Ok(Shards::Single);
        };
        if total.eq_ignore_ascii_case("auto") {
            anyhow::ensure!(
                ids.is_none() && start.is_none() && end.is_none(),
                "SHARD_TOTAL=auto runs every shard here; leave SHARD_IDS, SHARD_START and SHARD_END unset"
            );
            return Ok(Shards::Auto);
        }
        let number = |name: &str, v: &str| -> anyhow::Result<u32> {
            v.trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("{name} must be a shard number, not '{v}'"))
        };
        let total = number("SHARD_TOTAL", total)?;
        anyhow::ensure!(total >= 1, "SHARD_TOTAL must be at least 1");
        let (start, end) = match ids {
            Some(list) => {
                let list = list.trim();
                let ids: Vec<u32> = match list.split_once('-') {
                    Some((a, b)) => (number("SHARD_IDS", a)?..=number("SHARD_IDS", b)?).collect(),
                    None => list
                        .split(',')
                        .map(|v| number("SHARD_IDS", v))
                        .collect::<anyhow::Result<_>>()?,
                };
                let (Some(&first), Some(&last)) = (ids.first(), ids.last()) else {
                    anyhow::bail!("SHARD_IDS names no shard");
                };
                anyhow::ensure!(
                    ids.windows(2).all(|w| w[1] == w[0] + 1),
                    "SHARD_IDS must be consecutive (3-5 or 3,4,5), not '{list}'"
                );
                (first, last)
            }
            None => (
                start
                    .map(|v| number("SHARD_START", v))
                    .transpose()?
                    .unwrap_or(0),
                end.map(|v| number("SHARD_END", v))
                    .transpose()?
                    .unwrap_or(total - 1),
            ),
        };
        anyhow::ensure!(
            start <= end && end < total,
            "shards {start}..={end} are not within SHARD_TOTAL={total} (numbered from 0)"
        );
        Ok(Shards::Range { start, end, total })
    }
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
            shards: Shards::Single,
        }
    }
}

fn number<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>> {
    match non_empty(name) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name} must be a whole number, not '{v}'")),
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
    /// A streaming replica of that database (`DATABASE_READ_URL`) that reports, exports and
    /// autocomplete read from; `None` reads everything from the primary.
    pub database_read_url: Option<String>,
    /// Discord settings, when `DISCORD_TOKEN` is set.
    pub discord: Option<DiscordConfig>,
    /// Where the HTTP API listens (`HTTP_ADDR`, default `127.0.0.1:8080`).
    pub http_addr: std::net::SocketAddr,
    /// Requests per second each API token may make (`API_RATE_PER_SECOND`, default 20) and
    /// at once after a quiet spell (`API_BURST`, default 40).
    pub api_rate_per_second: u32,
    pub api_burst: u32,
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
                    shards: Shards::parse(
                        non_empty("SHARD_TOTAL").as_deref(),
                        non_empty("SHARD_IDS").as_deref(),
                        non_empty("SHARD_START").as_deref(),
                        non_empty("SHARD_END").as_deref(),
                    )?,
                    ..defaults
                })
            }
        };
        Ok(Config {
            database_url: non_empty("DATABASE_URL")
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string()),
            database_read_url: non_empty("DATABASE_READ_URL"),
            discord,
            http_addr: match non_empty("HTTP_ADDR") {
                None => std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
                Some(a) => a.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "HTTP_ADDR must be an address and port like 127.0.0.1:8080, not '{a}'"
                    )
                })?,
            },
            api_rate_per_second: number("API_RATE_PER_SECOND")?.unwrap_or(20),
            api_burst: number("API_BURST")?.unwrap_or(40),
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
            .field(
                "database_read_url",
                &self.database_read_url.as_deref().map(redact_url),
            )
            .field("discord", &self.discord)
            .field("http_addr", &self.http_addr)
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
        use Shards::*;
        assert_eq!(Shards::parse(None, None, None, None).ok(), Some(Single));
        assert_eq!(
            Shards::parse(Some("auto"), None, None, None).ok(),
            Some(Auto)
        );
        assert_eq!(
            Shards::parse(Some("8"), Some("2-3"), None, None).ok(),
            Some(Range {
                start: 2,
                end: 3,
                total: 8
            })
        );
        assert_eq!(
            Shards::parse(Some("8"), Some("4,5,6"), None, None).ok(),
            Some(Range {
                start: 4,
                end: 6,
                total: 8
            })
        );
        assert_eq!(
            Shards::parse(Some("8"), None, Some("6"), None).ok(),
            Some(Range {
                start: 6,
                end: 7,
                total: 8
            })
        );
        assert!(Shards::parse(Some("8"), Some("1,3"), None, None).is_err());
        assert!(Shards::parse(Some("8"), Some("7-8"), None, None).is_err());
        assert!(Shards::parse(None, Some("1"), None, None).is_err());
        assert!(Shards::parse(Some("0"), None, None, None).is_err());
        let c = Config {
            database_url: "postgres://a:hunter2@h/d".into(),
            database_read_url: Some("postgres://a:hunter3@replica/d".into()),
            discord: Some(DiscordConfig::new("SECRET.TOKEN")),
            http_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            api_rate_per_second: 20,
            api_burst: 40,
            webhook_allow_private: false,
        };
        assert!(!format!("{c:?}").contains("SECRET.TOKEN"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{c:?}").contains("hunter3"));
    }
}
