//! Qdrant's day-2 operation, typed, pinned here by exact text.

use super::day2::remove_peer_script;
use crate::components::Day2Op;

/// Qdrant's DELETE /cluster/peer of a peer that holds no shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRemove {
    pub peer_id: u64,
}

impl Day2Op for PeerRemove {
    fn script(&self) -> String {
        remove_peer_script(self.peer_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The script, pinned by exact text.
    #[test]
    fn qdrant_script_exact() {
        let op = PeerRemove {
            peer_id: 8_217_345_021,
        };
        insta::assert_snapshot!("qdrant_peer_remove", op.script());
        assert_eq!(
            PeerRemove { peer_id: 7 }.script(),
            "set -e\ncode=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE 'http://127.0.0.1:6333/cluster/peer/7?force=false')\ncase \"$code\" in 200|404) ;; *) echo \"Qdrant refused to remove peer 7 (HTTP $code)\" >&2; exit 1 ;; esac\n"
        );
    }
}
