//! Qdrant peers taken out of the stack. A peer that still holds shards is
//! not removed: the plan is refused until its shards are moved (Qdrant's
//! `POST /collections/{name}/cluster` with `move_shard`), because stopping it
//! would drop replicas, or the only copy of a shard. A peer that holds none
//! stops, then a remaining peer removes it from the Raft cluster
//! (`DELETE /cluster/peer/{id}`). New peers join with `--bootstrap` (their
//! compose file) and need no step of their own.

use super::ops::PeerRemove;
use crate::compile::{Compiled, Kind, ResourceId};
use crate::components::Day2Op;
use crate::facts::HostFacts;
use crate::plan::{Action, Plan, Step};
use std::collections::BTreeMap;

/// The id of Qdrant's service on `host` (its compose project's unit).
fn service(host: &str) -> String {
    ResourceId::new(host, Kind::Service, "rampart-qdrant.service").to_string()
}

pub fn steps(compiled: &Compiled, facts: &BTreeMap<String, HostFacts>, plan: &mut Plan) {
    let hosts = super::hosts(compiled);
    let leaving: Vec<&String> = facts
        .keys()
        .filter(|h| {
            !hosts.contains(h)
                && facts[*h]
                    .state
                    .as_ref()
                    .is_some_and(|st| st.resources.contains_key(&service(h)))
        })
        .collect();
    if leaving.is_empty() {
        return;
    }
    // the remaining peer that removes the others from the cluster
    let anchor = hosts
        .iter()
        .find(|h| facts.get(*h).and_then(|f| f.qdrant()).is_some());
    let mut prev: Option<String> = None;
    for h in leaving {
        let Some(q) = facts[h].qdrant() else {
            plan.refused.push(format!(
                "qdrant: {h} is to leave the cluster, but its Qdrant does not answer, so rampart cannot tell whether it still holds shards. Start it (systemctl start rampart-qdrant) and plan again."
            ));
            continue;
        };
        let held = q.shards.get(&q.peer_id).copied().unwrap_or(0);
        if held > 0 {
            plan.refused.push(format!(
                "qdrant: {h} (peer {}) still holds {held} shard{}; removing it would drop them. Move them to the remaining peers first (POST /collections/NAME/cluster with move_shard), then plan again.",
                q.peer_id,
                if held == 1 { "" } else { "s" }
            ));
            continue;
        }
        let Some(anchor) = anchor else {
            plan.refused.push(format!("qdrant: {h} is to leave the cluster, but no remaining peer answers to remove it from; bring one up first"));
            continue;
        };
        let stop = service(h);
        let id = ResourceId::new(anchor, Kind::Qdrant, &format!("remove-peer-{h}")).to_string();
        let mut deps: Vec<String> = plan
            .steps
            .iter()
            .filter(|s| s.id == stop)
            .map(|s| s.id.clone())
            .collect();
        deps.extend(prev.clone());
        plan.steps.push(Step {
            id: id.clone(),
            host: anchor.clone(),
            action: Action::Run,
            reasons: vec![format!("DELETE /cluster/peer/{} ({h}, no longer in the stack and holding no shards), after its Qdrant stops", q.peer_id)],
            diff: None,
            sensitive: false,
            drift: false,
            ops: vec![PeerRemove { peer_id: q.peer_id }.op()],
            deps,
            retires: None,
            always: false,
        });
        prev = Some(id);
    }
}

/// Qdrant's DELETE /cluster/peer of `peer_id` (done when it is already gone).
pub(crate) fn remove_peer_script(peer_id: u64) -> String {
    format!(
        "set -e\ncode=$(curl -s -o /dev/null -w '%{{http_code}}' -X DELETE 'http://127.0.0.1:6333/cluster/peer/{id}?force=false')\ncase \"$code\" in 200|404) ;; *) echo \"Qdrant refused to remove peer {id} (HTTP $code)\" >&2; exit 1 ;; esac\n",
        id = peer_id
    )
}
