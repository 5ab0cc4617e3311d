//! The messages the bot sends on its own initiative, composed here like every reply so they
//! read the same: `reminder` (a task came due), `agenda` (a member's morning), `digest` (the
//! team's week), `channel` (the admins told that the digest channel refused a post). The scheduler decides when each is due and writes it to the outbox; it says
//! nothing itself.

mod agenda;
mod channel;
mod digest;
mod reminder;

pub use agenda::agenda;
pub use channel::{channel_unusable, ChannelProblem};
pub use digest::{digest, digest_detail};
pub use reminder::reminder;
