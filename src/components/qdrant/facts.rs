//! A Qdrant peer's id and where the shards are: the facts script's `Q` line
//! (its probe, QDRANT_PY) and its parser.

use crate::compile::Compiled;
use crate::transport::quote::sh;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QdrantFact {
    /// This peer's Raft id.
    pub peer_id: u64,
    /// Shards held by each peer (by id), over all collections, as this peer sees them.
    pub shards: BTreeMap<u64, usize>,
}

/// Reads this peer's id and the shards of every collection from Qdrant's
/// REST API (argument: its base URL); prints one JSON line.
pub const QDRANT_PY: &str = r#"import json, sys, urllib.request
base = sys.argv[1]
def get(p):
    with urllib.request.urlopen(base + p, timeout=5) as r:
        return json.load(r)["result"]
me = get("/cluster")["peer_id"]
shards = {}
for c in get("/collections")["collections"]:
    info = get("/collections/%s/cluster" % urllib.request.quote(c["name"], safe=""))
    shards[str(info["peer_id"])] = shards.get(str(info["peer_id"]), 0) + len(info.get("local_shards", []))
    for r in info.get("remote_shards", []):
        shards[str(r["peer_id"])] = shards.get(str(r["peer_id"]), 0) + 1
print(json.dumps({"peer_id": me, "shards": shards}))
"#;

/// Parses QDRANT_PY's line.
pub fn parse_qdrant(text: &str) -> Option<QdrantFact> {
    let v: serde_json::Value = serde_json::from_str(text.trim()).ok()?;
    let peer_id = v.get("peer_id")?.as_u64()?;
    let shards = v
        .get("shards")?
        .as_object()?
        .iter()
        .filter_map(|(k, n)| Some((k.parse().ok()?, n.as_u64()? as usize)))
        .collect();
    Some(QdrantFact { peer_id, shards })
}

/// The facts script's line for this host: `Q` and QDRANT_PY's answer. Every
/// host is asked, not only the stack's peers: a peer taken out of the stack
/// still has its compose project and is read too, so this is always Some.
pub fn probe(_compiled: &Compiled, _host: &str) -> Option<String> {
    Some(format!(
        "if [ -f /etc/rampart/compose/qdrant/compose.yml ] && command -v python3 >/dev/null; then q=$(timeout 20 python3 -c {} http://127.0.0.1:6333 2>/dev/null) && printf 'Q\\t%s\\n' \"$q\"; fi\n",
        sh(QDRANT_PY)
    ))
}

/// The saved plan's items of a Qdrant peer.
pub const FINGERPRINT_KEYS: [&str; 2] = ["Qdrant peer", "Qdrant shards"];

/// This peer's id and the shards each peer holds, for a saved plan.
pub fn fingerprint(q: &QdrantFact) -> Vec<(String, String)> {
    let shards: Vec<String> = q
        .shards
        .iter()
        .map(|(p, n)| format!("peer {p}: {n}"))
        .collect();
    vec![
        (FINGERPRINT_KEYS[0].into(), q.peer_id.to_string()),
        (
            FINGERPRINT_KEYS[1].into(),
            if shards.is_empty() {
                "none".into()
            } else {
                shards.join(", ")
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::parse;

    /// QDRANT_PY against a stand-in for Qdrant's REST API (Python's
    /// http.server on loopback, answering as Qdrant 1.12 does): this peer's
    /// id and the shards each peer holds, over every collection.
    #[test]
    fn qdrant_shards_are_read_from_the_rest_api() {
        const SERVER: &str = r#"import json, http.server, sys
R = {
 "/cluster": {"peer_id": 11, "peers": {"11": {"uri": "http://10.0.0.1:6335/"}, "22": {"uri": "http://10.0.0.2:6335/"}, "33": {"uri": "http://10.0.0.3:6335/"}}},
 "/collections": {"collections": [{"name": "docs"}, {"name": "a b"}]},
 "/collections/docs/cluster": {"peer_id": 11, "shard_count": 3, "local_shards": [{"shard_id": 0}, {"shard_id": 2}], "remote_shards": [{"shard_id": 1, "peer_id": 22}, {"shard_id": 0, "peer_id": 33}]},
 "/collections/a%20b/cluster": {"peer_id": 11, "shard_count": 1, "local_shards": [], "remote_shards": [{"shard_id": 0, "peer_id": 22}]},
}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = json.dumps({"result": R[self.path], "status": "ok"}).encode() if self.path in R else b"{}"
        self.send_response(200 if self.path in R else 404); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_port, flush=True)
s.serve_forever()
"#;
        use std::io::BufRead;
        let mut server = std::process::Command::new("python3")
            .arg("-c")
            .arg(SERVER)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = String::new();
        std::io::BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(QDRANT_PY)
            .arg(format!("http://127.0.0.1:{}", port.trim()))
            .output()
            .unwrap();
        let _ = server.kill();
        let _ = server.wait();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout).to_string();
        let f = parse(&format!("Q\t{}END\n", line), &[])
            .unwrap()
            .qdrant()
            .cloned()
            .unwrap();
        assert_eq!(f.peer_id, 11);
        assert_eq!(f.shards, [(11, 2), (22, 2), (33, 1)].into_iter().collect());
    }
}
