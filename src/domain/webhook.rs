//! Outgoing webhooks as the Standard Webhooks specification has them
//! (<https://www.standardwebhooks.com>): the event types a team can subscribe to, the `whsec_`
//! secret, the `v1` signature over `id.timestamp.body`, its verification, the retry schedule
//! and which addresses a delivery may go to. Pure: the clock and the random bytes are given.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The events an endpoint can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum EventType {
    /// A deal was opened.
    #[serde(rename = "deal.created")]
    DealCreated,
    /// A deal moved to another stage (won and lost included).
    #[serde(rename = "deal.stage_changed")]
    DealStageChanged,
    /// A deal was won.
    #[serde(rename = "deal.won")]
    DealWon,
    /// A deal was lost.
    #[serde(rename = "deal.lost")]
    DealLost,
    /// A deal got another owner.
    #[serde(rename = "deal.assigned")]
    DealAssigned,
    /// A contact was added.
    #[serde(rename = "contact.created")]
    ContactCreated,
    /// A company was added.
    #[serde(rename = "company.created")]
    CompanyCreated,
    /// An activity (call, meeting, ...) was logged.
    #[serde(rename = "activity.logged")]
    ActivityLogged,
    /// An import finished.
    #[serde(rename = "import.finished")]
    ImportFinished,
}

impl EventType {
    /// Every event type, in the order lists show them.
    pub const ALL: [EventType; 9] = [
        EventType::DealCreated,
        EventType::DealStageChanged,
        EventType::DealWon,
        EventType::DealLost,
        EventType::DealAssigned,
        EventType::ContactCreated,
        EventType::CompanyCreated,
        EventType::ActivityLogged,
        EventType::ImportFinished,
    ];

    /// The wire name, e.g. `deal.won`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::DealCreated => "deal.created",
            EventType::DealStageChanged => "deal.stage_changed",
            EventType::DealWon => "deal.won",
            EventType::DealLost => "deal.lost",
            EventType::DealAssigned => "deal.assigned",
            EventType::ContactCreated => "contact.created",
            EventType::CompanyCreated => "company.created",
            EventType::ActivityLogged => "activity.logged",
            EventType::ImportFinished => "import.finished",
        }
    }

    /// The type with this wire name.
    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// A list as people type it: `deal.won, deal.lost`, a group `deal.*`, or `all`. Sorted,
    /// without repeats; an unknown name is returned as the error.
    pub fn parse_list(s: &str) -> Result<Vec<EventType>, String> {
        let mut out = Vec::new();
        for word in s
            .split([',', ' ', ';', '，'])
            .map(str::trim)
            .filter(|w| !w.is_empty())
        {
            let word = word.to_ascii_lowercase();
            if word == "all" || word == "*" {
                out.extend(EventType::ALL);
            } else if let Some(group) = word.strip_suffix(".*") {
                let matched: Vec<_> = EventType::ALL
                    .into_iter()
                    .filter(|e| e.as_str().split('.').next() == Some(group))
                    .collect();
                if matched.is_empty() {
                    return Err(word);
                }
                out.extend(matched);
            } else {
                out.push(EventType::parse(&word).ok_or(word)?);
            }
        }
        if out.is_empty() {
            return Err(String::new());
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Every wire name, comma-separated, for "accepted" messages.
    pub fn names() -> String {
        EventType::ALL.map(EventType::as_str).join(", ")
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The symmetric signing key of one endpoint. Its `Debug` never shows the key; only
/// [`Secret::reveal`] does, for the one reply that hands it to the admin.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

/// The secret's prefix the specification gives, so a secret is recognisable at a glance.
pub const SECRET_PREFIX: &str = "whsec_";

/// Standard base64 that takes a secret with or without its `=` padding, as the specification's
/// reference libraries do.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Why a secret or a signature could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The secret is not base64 or is empty.
    #[error("the secret is not a whsec_ base64 key")]
    BadSecret,
    /// `webhook-timestamp` is not a number of seconds.
    #[error("webhook-timestamp is not a unix time")]
    BadTimestamp,
    /// The timestamp is more than the tolerance away from now (a replay, or a clock far off).
    #[error("webhook-timestamp is outside the tolerance")]
    Stale,
    /// No `v1` signature in the header matches.
    #[error("no matching v1 signature")]
    Mismatch,
}

impl Secret {
    /// A secret from its text, with or without the `whsec_` prefix.
    pub fn parse(s: &str) -> Result<Secret, SignatureError> {
        let key = LENIENT
            .decode(s.trim().strip_prefix(SECRET_PREFIX).unwrap_or(s.trim()))
            .map_err(|_| SignatureError::BadSecret)?;
        if key.is_empty() {
            return Err(SignatureError::BadSecret);
        }
        Ok(Secret(key))
    }

    /// A new secret from random bytes the caller drew (24 bytes, as the reference libraries).
    pub fn from_bytes(bytes: [u8; 24]) -> Secret {
        Secret(bytes.to_vec())
    }

    /// The text to give the receiver: `whsec_` and the key in base64.
    pub fn reveal(&self) -> String {
        format!(
            "{SECRET_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(&self.0)
        )
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("hmac accepts any key length"));
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` value: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let tag = self.mac(msg_id, timestamp, body).finalize().into_bytes();
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(tag)
        )
    }

    /// Checks a delivery as a receiver should: the timestamp within `TOLERANCE` of `now`
    /// (unix seconds) and one of the space-separated `v1` signatures matching, compared in
    /// constant time.
    pub fn verify(
        &self,
        msg_id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::BadTimestamp)?;
        // `abs_diff`: a timestamp the sender chose (`i64::MIN`) must not overflow the check.
        if now.abs_diff(ts) > TOLERANCE_SECONDS.unsigned_abs() {
            return Err(SignatureError::Stale);
        }
        let mac = self.mac(msg_id, ts, body);
        let matched = signatures
            .split(' ')
            .filter_map(|s| s.split_once(','))
            .filter(|(version, _)| *version == "v1")
            .filter_map(|(_, sig)| base64::engine::general_purpose::STANDARD.decode(sig).ok())
            .any(|sig| mac.clone().verify_slice(&sig).is_ok());
        if matched {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How far a receiver lets `webhook-timestamp` be from its own clock (the reference libraries'
/// five minutes).
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// A new `webhook-id` from 16 random bytes: `msg_` and URL-safe base64, which never holds the
/// `.` the signed content uses as its separator.
pub fn message_id(bytes: [u8; 16]) -> String {
    format!("msg_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The specification's example schedule: after the first attempt (immediately), wait 5 s,
/// 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h; about three days in all.
pub const RETRY_SCHEDULE: [i64; 9] = [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400];

/// Attempts a message gets: the first and one per step of [`RETRY_SCHEDULE`].
pub const MAX_ATTEMPTS: i32 = RETRY_SCHEDULE.len() as i32 + 1;

/// An endpoint that has failed every delivery for this long is disabled and its admins told.
pub fn disable_after() -> Duration {
    Duration::days(5)
}

/// The wait before the next attempt after `attempts` failed ones, or `None` when the schedule
/// is spent. `jitter` (0..1, drawn by the caller) spreads it ±10% so retries of many messages
/// do not arrive together.
pub fn retry_delay(attempts: i32, jitter: f64) -> Option<Duration> {
    let step = usize::try_from(attempts.checked_sub(1)?).ok()?;
    let base = *RETRY_SCHEDULE.get(step)? as f64;
    let factor = 0.9 + 0.2 * jitter.clamp(0.0, 1.0);
    Some(Duration::milliseconds(
        (base * factor * 1000.0).round() as i64
    ))
}

/// Whether a delivery may go to this address without an operator's say-so: not loopback,
/// private, link-local, unspecified, multicast, broadcast, shared (CGNAT), documentation or
/// unique-local, in IPv4, IPv6, or IPv4 carried inside IPv6 (mapped, compatible, NAT64 or
/// 6to4: a gateway on the way would deliver to the IPv4 address inside).
pub fn public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 address carries: `::ffff:a.b.c.d` (mapped), `::a.b.c.d`
/// (compatible; `::` and `::1` are IPv6's own), `64:ff9b::a.b.c.d` (NAT64, RFC 6052) and
/// `2002:aabb:ccdd::/48` (6to4, RFC 3056).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        // 100.64.0.0/10, carrier-grade NAT: inside someone's network.
        || (a == 100 && (64..128).contains(&b))
        // 198.18.0.0/15 (benchmarking) and 240.0.0.0/4 (reserved).
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local, 2001:db8::/32 documentation.
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// Why an endpoint URL was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL at all.
    #[error("not a URL")]
    Malformed,
    /// Not http or https.
    #[error("only http and https")]
    Scheme,
    /// A user name or password in the URL: it would be sent with every delivery and shown in
    /// every list.
    #[error("no credentials in the URL")]
    Credentials,
    /// An address that is not public (loopback, private, link-local) while the operator has not
    /// allowed them.
    #[error("not a public address")]
    Private,
}

/// An endpoint's URL, checked: absolute http(s) with a host and no credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointUrl(url::Url);

impl EndpointUrl {
    /// Parses a URL as typed. A literal address that is not public is refused unless
    /// `allow_private`; a host name is checked when it is resolved, at each delivery.
    pub fn parse(s: &str, allow_private: bool) -> Result<EndpointUrl, UrlError> {
        let url = url::Url::parse(s.trim()).map_err(|_| UrlError::Malformed)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlError::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        let parsed = EndpointUrl(url);
        match parsed.literal_ip() {
            Some(ip) if !allow_private && !public_address(ip) => Err(UrlError::Private),
            _ if parsed.0.host_str().is_none_or(str::is_empty) => Err(UrlError::Malformed),
            _ => Ok(parsed),
        }
    }

    /// The host when it is an address rather than a name.
    pub fn literal_ip(&self) -> Option<IpAddr> {
        match self.0.host()? {
            url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            url::Host::Domain(_) => None,
        }
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// One event as it is sent: the specification's `type`, `timestamp` and `data`.
#[derive(Clone, Debug, Serialize)]
pub struct Event<T> {
    /// The event type, e.g. `deal.won`.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When the change happened (RFC 3339, UTC).
    pub timestamp: String,
    /// What changed.
    pub data: T,
}

impl<T: Serialize> Event<T> {
    /// An event of `kind` that happened at `at`.
    pub fn new(kind: EventType, at: DateTime<Utc>, data: T) -> Event<T> {
        Event {
            kind,
            timestamp: at.to_rfc3339_opts(SecondsFormat::Millis, true),
            data,
        }
    }

    /// The body as sent and signed: compact JSON, serialized once and stored as these bytes.
    pub fn body(&self) -> String {
        // Plain structs of strings and numbers always serialize.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A member as events name them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MemberData {
    /// Discord user id.
    pub user_id: i64,
    /// Display name.
    pub name: Option<String>,
}

/// A company as events name it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompanyRefData {
    /// Company id (`CO-7` is 7).
    pub company_id: i64,
    /// Name.
    pub name: String,
}

/// A contact as events name it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContactRefData {
    /// Contact id (`C-12` is 12).
    pub contact_id: i64,
    /// Name.
    pub name: String,
    /// Email, when known.
    pub email: Option<String>,
}

/// One product line of a deal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LineData {
    /// Product id.
    pub product_id: i64,
    /// Product name.
    pub name: String,
    /// Units.
    pub quantity: i32,
    /// Price per unit as sold, minor units.
    pub unit_price_minor: i64,
    /// The product's list price when sold, minor units.
    pub list_price_minor: i64,
    /// Quantity times unit price, minor units.
    pub amount_minor: i64,
}

/// A deal as every `deal.*` event carries it: the same names as the report JSON, money in
/// integer minor units beside its currency.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DealData {
    /// Row id.
    pub deal_id: i64,
    /// The team's number (`D-42` is 42).
    pub number: i64,
    /// `D-42`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// Title.
    pub title: String,
    /// Current stage name.
    pub stage: String,
    /// open, won or lost.
    pub status: String,
    /// Amount, minor units (the lines' total when it has lines).
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Company, when linked.
    pub company: Option<CompanyRefData>,
    /// Contact, when linked.
    pub contact: Option<ContactRefData>,
    /// Owner.
    pub owner: MemberData,
    /// Expected close date.
    pub expected_close: Option<NaiveDate>,
    /// When it was won or lost.
    pub closed_at: Option<DateTime<Utc>>,
    /// Why it was lost.
    pub lost_reason: Option<String>,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// Product lines.
    pub lines: Vec<LineData>,
}

/// `data` of the `deal.*` events.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DealEvent {
    /// Workspace (Discord server) id.
    pub workspace_id: i64,
    /// The deal after the change.
    pub deal: DealData,
    /// The stage it left (`deal.stage_changed`, `deal.won`, `deal.lost`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_stage: Option<String>,
    /// The owner before (`deal.assigned`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_owner: Option<MemberData>,
    /// Who made the change.
    pub changed_by: i64,
}

/// `data` of `contact.created`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContactEvent {
    /// Workspace id.
    pub workspace_id: i64,
    /// Contact id.
    pub contact_id: i64,
    /// Name.
    pub name: String,
    /// Email.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// Company.
    pub company: Option<CompanyRefData>,
    /// Owner.
    pub owner: MemberData,
    /// Tags.
    pub tags: Vec<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// Who added it.
    pub changed_by: i64,
}

/// `data` of `company.created`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompanyEvent {
    /// Workspace id.
    pub workspace_id: i64,
    /// Company id.
    pub company_id: i64,
    /// Name.
    pub name: String,
    /// Industry.
    pub industry: Option<String>,
    /// Tier.
    pub tier: Option<String>,
    /// Website.
    pub website: Option<String>,
    /// Owner.
    pub owner: MemberData,
    /// Tags.
    pub tags: Vec<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// Who added it.
    pub changed_by: i64,
}

/// `data` of `activity.logged`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActivityEvent {
    /// Workspace id.
    pub workspace_id: i64,
    /// Activity id.
    pub activity_id: i64,
    /// call, email, meeting, visit, message or note.
    pub kind: String,
    /// What happened.
    pub summary: String,
    /// Satisfaction 1-5, when given.
    pub satisfaction: Option<i16>,
    /// When it happened.
    pub happened_at: DateTime<Utc>,
    /// With whom.
    pub contact: ContactRefData,
    /// The deal it was about: its id and `D-42`.
    pub deal_id: Option<i64>,
    /// `D-42`, when about a deal.
    pub deal_ref: Option<String>,
    /// Who logged it.
    pub member: MemberData,
}

/// `data` of `import.finished`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportEvent {
    /// Workspace id.
    pub workspace_id: i64,
    /// Import id (for `/import undo`).
    pub import_id: i64,
    /// File names.
    pub files: Vec<String>,
    /// Records created.
    pub created: i64,
    /// Records updated.
    pub updated: i64,
    /// Rows that matched a record unchanged.
    pub matched: i64,
    /// Rows refused.
    pub refused: i64,
    /// Who ran it.
    pub changed_by: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors published with the specification's reference libraries
    /// (standard-webhooks/standard-webhooks, `libraries/rust/src/lib.rs` `test_sign`,
    /// `libraries/python/tests/test_webhooks.py` `test_sign_function`, and the JavaScript,
    /// Go and Java suites use the same ones).
    const VECTORS: [(&str, &str, i64, &str, &str); 2] = [
        (
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1_649_367_553,
            r#"{"email":"test@example.com","username":"test_user"}"#,
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        ),
        (
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
    ];

    #[test]
    fn signs_the_published_vectors() {
        for (secret, id, ts, body, want) in VECTORS {
            let secret = Secret::parse(secret).unwrap();
            assert_eq!(secret.sign(id, ts, body.as_bytes()), want);
            assert_eq!(
                secret.verify(id, &ts.to_string(), want, body.as_bytes(), ts + 10),
                Ok(())
            );
        }
    }

    #[test]
    fn verification_refuses_what_the_reference_libraries_refuse() {
        let (secret, id, ts, body, sig) = VECTORS[1];
        let s = Secret::parse(secret).unwrap();
        let check = |id: &str, t: &str, sig: &str, body: &str, now: i64| {
            s.verify(id, t, sig, body.as_bytes(), now)
        };
        let t = ts.to_string();
        // The python suite's "invalid signature": one character off.
        let wrong = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=";
        assert_eq!(
            check(id, &t, wrong, body, ts),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(id, "hello", sig, body, ts),
            Err(SignatureError::BadTimestamp)
        );
        assert_eq!(
            check(id, &t, sig, body, ts + TOLERANCE_SECONDS + 1),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check(id, &t, sig, body, ts - TOLERANCE_SECONDS - 1),
            Err(SignatureError::Stale)
        );
        // Timestamps at the ends of the range are stale, not an overflow.
        for far in [i64::MIN, i64::MAX] {
            assert_eq!(
                check(id, &far.to_string(), sig, body, ts),
                Err(SignatureError::Stale)
            );
        }
        assert_eq!(
            check(id, &(ts + i64::MIN).to_string(), sig, body, ts),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check("msg_other", &t, sig, body, ts),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(id, &t, sig, r#"{"test": 1}"#, ts),
            Err(SignatureError::Mismatch)
        );
        // A list with other versions and bad entries still finds the valid one.
        let many = format!(
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {sig} junk"
        );
        assert_eq!(check(id, &t, &many, body, ts), Ok(()));
        // A v2 signature with the right bytes does not count as v1.
        let v2 = sig.replacen("v1,", "v2,", 1);
        assert_eq!(check(id, &t, &v2, body, ts), Err(SignatureError::Mismatch));
    }

    #[test]
    fn secrets_with_or_without_prefix_and_padding() {
        let bare = Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
            bare
        );
        assert_eq!(
            Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS").unwrap(),
            Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS=").unwrap()
        );
        assert_eq!(Secret::parse("whsec_"), Err(SignatureError::BadSecret));
        assert_eq!(Secret::parse(""), Err(SignatureError::BadSecret));
        assert_eq!(Secret::parse("whsec_!!"), Err(SignatureError::BadSecret));
        let fresh = Secret::from_bytes([7; 24]);
        assert!(fresh.reveal().starts_with("whsec_"));
        assert_eq!(Secret::parse(&fresh.reveal()).unwrap(), fresh);
        assert_eq!(format!("{fresh:?}"), "Secret(***)");
    }

    #[test]
    fn message_ids_never_hold_the_separator() {
        for b in [[0u8; 16], [255; 16], [46; 16]] {
            let id = message_id(b);
            assert!(id.starts_with("msg_") && !id.contains('.'), "{id}");
        }
    }

    #[test]
    fn retries_follow_the_specification_with_jitter() {
        let secs = |a, j| retry_delay(a, j).map(|d| d.num_milliseconds() as f64 / 1000.0);
        assert_eq!(secs(1, 0.5), Some(5.0));
        assert_eq!(secs(2, 0.5), Some(300.0));
        assert_eq!(secs(3, 0.5), Some(1800.0));
        assert_eq!(secs(8, 0.5), Some(72_000.0));
        assert_eq!(secs(9, 0.5), Some(86_400.0));
        assert_eq!(secs(10, 0.5), None);
        assert_eq!(secs(0, 0.5), None);
        assert_eq!(secs(2, 0.0), Some(270.0));
        assert_eq!(secs(2, 1.0), Some(330.0));
        assert_eq!(MAX_ATTEMPTS, 10);
    }

    #[test]
    fn only_public_addresses_pass() {
        let cases = [
            ("127.0.0.1", false),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("0.0.0.0", false),
            ("100.64.0.1", false),
            ("224.0.0.1", false),
            ("255.255.255.255", false),
            ("::1", false),
            ("::", false),
            ("fe80::1", false),
            ("fd00::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:10.0.0.1", false),
            ("93.184.216.34", true),
            ("8.8.8.8", true),
            ("2606:4700::1111", true),
            ("::ffff:8.8.8.8", true),
            // IPv4 inside IPv6: compatible, NAT64 and 6to4 forms of private addresses.
            ("::10.0.0.1", false),
            ("::8.8.8.8", true),
            ("64:ff9b::a9fe:a9fe", false),
            ("64:ff9b::7f00:1", false),
            ("64:ff9b::808:808", true),
            ("2002:c0a8:101::1", false),
            ("2002:a9fe:a9fe::", false),
            ("2002:808:808::1", true),
        ];
        for (ip, public) in cases {
            assert_eq!(public_address(ip.parse().unwrap()), public, "{ip}");
        }
    }

    #[test]
    fn endpoint_urls() {
        assert!(EndpointUrl::parse("https://erp.example.com/hooks/salesbot", false).is_ok());
        assert!(EndpointUrl::parse("http://127.0.0.1:9000/h", true).is_ok());
        let cases = [
            ("not a url", UrlError::Malformed),
            ("ftp://example.com/x", UrlError::Scheme),
            ("https://user:pw@example.com/", UrlError::Credentials),
            ("http://127.0.0.1:9000/h", UrlError::Private),
            ("http://[::1]/h", UrlError::Private),
            ("http://169.254.169.254/latest", UrlError::Private),
            ("http://10.0.0.5/", UrlError::Private),
        ];
        for (url, want) in cases {
            assert_eq!(EndpointUrl::parse(url, false), Err(want), "{url}");
        }
    }

    #[test]
    fn event_lists() {
        assert_eq!(
            EventType::parse_list("deal.won, deal.lost"),
            Ok(vec![EventType::DealWon, EventType::DealLost])
        );
        assert_eq!(EventType::parse_list("all").unwrap().len(), 9);
        assert_eq!(EventType::parse_list("deal.*").unwrap().len(), 5);
        assert_eq!(
            EventType::parse_list("deal.won deal.won"),
            Ok(vec![EventType::DealWon])
        );
        assert_eq!(EventType::parse_list("deal.wonn"), Err("deal.wonn".into()));
        assert_eq!(EventType::parse_list(" , "), Err(String::new()));
        for e in EventType::ALL {
            assert_eq!(
                serde_json::to_value(e).unwrap(),
                serde_json::json!(e.as_str())
            );
        }
    }
}
