//! Fetching a command's attachment (`/import file:`) before the engine sees it: only from the
//! allowed hosts (Discord's attachment servers), never following a redirect elsewhere, and
//! never more than the cap, whatever size Discord or the server claims.

use crate::config::DiscordConfig;
use crate::engine::format::escape;
use crate::engine::FileValue;
use crate::i18n::Msg;
use anyhow::Context as _;
use std::sync::Arc;
use std::time::Duration;

/// Downloads attachments for the commands that take files.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    hosts: Vec<String>,
    max: u64,
}

/// Why an attachment was not fetched; each says so in the reader's language.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{file} is {size} bytes, over the cap")]
    TooLarge { file: String, size: u64, max: u64 },
    #[error("{file} is not on an allowed host")]
    Host { file: String },
    #[error("{file} could not be downloaded: {why}")]
    Failed { file: String, why: String },
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

impl FetchError {
    /// The message for the person who sent the file.
    pub fn msg(&self) -> Msg {
        match self {
            FetchError::TooLarge { file, size, max } => Msg::new("import.too_large")
                .arg("file", escape(file))
                .arg("size", megabytes(*size))
                .arg("max", megabytes(*max)),
            FetchError::Host { file } => Msg::new("import.bad_host").arg("file", escape(file)),
            FetchError::Failed { file, .. } => {
                Msg::new("import.download_failed").arg("file", escape(file))
            }
        }
    }
}

impl Fetcher {
    /// A fetcher with the configuration's hosts and cap.
    pub fn new(config: &DiscordConfig) -> anyhow::Result<Fetcher> {
        let client = reqwest::Client::builder()
            // A redirect could lead anywhere; Discord's CDN answers directly.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(120))
            .build()
            .context("failed to build the attachment client")?;
        Ok(Fetcher {
            client,
            hosts: config.attachment_hosts.clone(),
            max: config.import_max_bytes,
        })
    }

    /// Whether `url` is on an allowed host: a bare host name allows it over HTTPS on the
    /// default port; an entry with a scheme allows exactly that origin.
    pub fn allowed(&self, url: &str) -> bool {
        let Ok(url) = reqwest::Url::parse(url) else {
            return false;
        };
        let origin = url.origin().ascii_serialization();
        self.hosts.iter().any(|entry| {
            if entry.contains("://") {
                origin == entry.trim_end_matches('/')
            } else {
                url.scheme() == "https"
                    && url.port().is_none()
                    && url
                        .host_str()
                        .is_some_and(|h| h.eq_ignore_ascii_case(entry))
            }
        })
    }

    /// Downloads one attachment as Discord resolved it.
    pub async fn fetch(&self, a: &serenity::all::Attachment) -> Result<FileValue, FetchError> {
        let file = a.filename.clone();
        if u64::from(a.size) > self.max {
            return Err(FetchError::TooLarge {
                file,
                size: a.size.into(),
                max: self.max,
            });
        }
        if !self.allowed(&a.url) {
            tracing::warn!(url = %a.url, "attachment refused: host not allowed");
            return Err(FetchError::Host { file });
        }
        let failed = |why: String| FetchError::Failed {
            file: a.filename.clone(),
            why,
        };
        let mut response = self
            .client
            .get(&a.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| failed(e.to_string()))?;
        if let Some(size) = response.content_length().filter(|s| *s > self.max) {
            return Err(FetchError::TooLarge {
                file,
                size,
                max: self.max,
            });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
            if (bytes.len() + chunk.len()) as u64 > self.max {
                return Err(FetchError::TooLarge {
                    file,
                    size: (bytes.len() + chunk.len()) as u64,
                    max: self.max,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(FileValue {
            filename: a.filename.clone(),
            bytes: Arc::new(bytes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_hosts_pass() {
        let mut config = DiscordConfig::new("T");
        config
            .attachment_hosts
            .push("http://127.0.0.1:4000".to_string());
        let f = Fetcher::new(&config).expect("fetcher");
        for ok in [
            "https://cdn.discordapp.com/attachments/1/2/deals.csv?ex=1",
            "https://media.discordapp.net/attachments/1/2/x.csv",
            "http://127.0.0.1:4000/attachments/x.csv",
        ] {
            assert!(f.allowed(ok), "{ok}");
        }
        for bad in [
            "http://cdn.discordapp.com/attachments/1/2/deals.csv",
            "https://cdn.discordapp.com:8443/x.csv",
            "https://cdn.discordapp.com.evil.example/x.csv",
            "https://evil.example/cdn.discordapp.com/x.csv",
            "https://user@evil.example/x.csv",
            "http://127.0.0.1:4001/x.csv",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(!f.allowed(bad), "{bad}");
        }
    }
}
