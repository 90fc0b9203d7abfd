//! Patroni's day-2 operation, typed: its member script (`day2`), pinned
//! here by exact text (snapshots/*.snap).

use super::day2::member_script;
use crate::components::Day2Op;

/// What a Patroni member script does on its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatroniAction {
    /// Leave the cluster: switch over first if it leads.
    Leave,
    /// Restart with the settings Patroni reports pending.
    Restart,
}

impl PatroniAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PatroniAction::Leave => "leave",
            PatroniAction::Restart => "restart",
        }
    }
}

/// Patroni's member script on `me`, in a cluster of `size` members; `want`
/// the pending settings (JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatroniMember {
    pub me: String,
    pub action: PatroniAction,
    pub want: String,
    pub size: usize,
}

impl Day2Op for PatroniMember {
    fn script(&self) -> String {
        member_script(&self.me, self.action.as_str(), &self.want, self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each script, pinned by exact text.
    #[test]
    fn patroni_scripts_exact() {
        let leave = PatroniMember {
            me: "lab2".into(),
            action: PatroniAction::Leave,
            want: "{}".into(),
            size: 3,
        };
        insta::assert_snapshot!("patroni_leave", leave.script());
        let restart = PatroniMember {
            me: "lab1".into(),
            action: PatroniAction::Restart,
            want: r#"{"max_connections": "200"}"#.into(),
            size: 3,
        };
        insta::assert_snapshot!("patroni_restart", restart.script());
    }
}
