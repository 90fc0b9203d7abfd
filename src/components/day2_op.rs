//! The day-2 operations' one shape. Each component types its own (etcd's
//! member add/remove, Patroni's member script, Redis' failover and Sentinel
//! reset, Qdrant's peer removal) in its folder's `ops.rs`, pinned there by
//! exact text; each becomes the unguarded command op the executor runs
//! (`Op::RunCommand`), so plans, JSON and saved plans hold the same script
//! text.

use crate::plan::Op;

/// A typed day-2 operation: the script it runs on its step's host.
pub trait Day2Op {
    /// The shell script run on the step's host.
    fn script(&self) -> String;
    /// The op the executor runs: the script, unguarded.
    fn op(&self) -> Op {
        Op::RunCommand {
            run: self.script(),
            unless: None,
            creates: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl Day2Op for Echo {
        fn script(&self) -> String {
            "echo day2".into()
        }
    }

    /// The op is the script, unguarded, as the day-2 steps always ran it.
    #[test]
    fn a_day2_op_runs_its_script_unguarded() {
        assert_eq!(
            Echo.op(),
            Op::RunCommand {
                run: "echo day2".into(),
                unless: None,
                creates: None
            }
        );
    }
}
