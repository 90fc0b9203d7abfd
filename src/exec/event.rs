//! Progress events, sent over a channel to one printer.

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Failed(String),
    Skipped(String),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started {
        host: String,
        id: String,
        n: usize,
        total: usize,
        what: String,
    },
    Finished {
        host: String,
        id: String,
        n: usize,
        total: usize,
        #[serde(flatten)]
        outcome: Outcome,
        seconds: f64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn json_lines_are_flat() {
        let e = Event::Finished {
            host: "h".into(),
            id: "h/file/x".into(),
            n: 1,
            total: 2,
            outcome: Outcome::Failed("boom".into()),
            seconds: 0.5,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"finished","host":"h","id":"h/file/x","n":1,"total":2,"outcome":"failed","detail":"boom","seconds":0.5}"#
        );
    }
}
