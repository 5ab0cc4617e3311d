//! Who may do what. The engine asks these questions; adapters only say who the caller is.

use serde::{Deserialize, Serialize};

/// A member's role in a workspace, from least to most trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Works their own deals and contacts.
    Rep,
    /// Sees and changes everything in the workspace, reassigns, sets quotas.
    Manager,
    /// Everything a manager can, plus workspace configuration.
    Admin,
}

impl Role {
    /// Parses the names the console and the database use.
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rep" => Some(Role::Rep),
            "manager" => Some(Role::Manager),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// A member's stored role. A name this version does not know (a newer version's role,
    /// read during a rolling upgrade) reads as the least trusted, `Rep`.
    pub fn stored(s: &str) -> Role {
        Role::parse(s).unwrap_or(Role::Rep)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Rep => "rep",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    /// Managers and admins see and change all records of their workspace.
    pub fn is_manager(self) -> bool {
        self >= Role::Manager
    }

    /// Only admins configure the workspace.
    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }

    /// Reps may change what they own; managers may change anything in the workspace.
    pub fn may_change(self, actor: i64, owner: i64) -> bool {
        self.is_manager() || actor == owner
    }
}

/// Whether reps see the whole team's records or only their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Visibility {
    /// Everyone sees everything in the workspace.
    All,
    /// Reps see only the deals and contacts they own; managers still see all.
    Own,
}

impl Visibility {
    /// Parses the stored and typed name.
    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "all" => Some(Visibility::All),
            "own" => Some(Visibility::Own),
            _ => None,
        }
    }

    /// A workspace's stored setting. A name this version does not know (a newer version's
    /// setting, read during a rolling upgrade) reads as the stricter `Own`: a rep is shown
    /// too little for a while rather than another rep's records.
    pub fn stored(s: &str) -> Visibility {
        Visibility::parse(s).unwrap_or(Visibility::Own)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::All => "all",
            Visibility::Own => "own",
        }
    }

    /// The owner a reader is limited to, if any: `None` means the reader sees everyone's records.
    pub fn owner_filter(self, role: Role, actor: i64) -> Option<i64> {
        match self {
            Visibility::Own if !role.is_manager() => Some(actor),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_visibility_this_version_does_not_know_reads_as_own() {
        assert_eq!(Visibility::stored("all"), Visibility::All);
        assert_eq!(Visibility::stored("own"), Visibility::Own);
        assert_eq!(Visibility::stored("team"), Visibility::Own);
        assert_eq!(Visibility::stored(""), Visibility::Own);
    }

    #[test]
    fn permission_table() {
        // (role, actor, owner, may change)
        let cases = [
            (Role::Rep, 1, 1, true),
            (Role::Rep, 1, 2, false),
            (Role::Manager, 1, 2, true),
            (Role::Admin, 1, 2, true),
        ];
        for (role, actor, owner, want) in cases {
            assert_eq!(
                role.may_change(actor, owner),
                want,
                "{role:?} {actor} {owner}"
            );
        }
        assert_eq!(Visibility::Own.owner_filter(Role::Rep, 7), Some(7));
        assert_eq!(Visibility::Own.owner_filter(Role::Manager, 7), None);
        assert_eq!(Visibility::All.owner_filter(Role::Rep, 7), None);
    }
}
