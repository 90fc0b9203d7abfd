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
    Started { host: String, id: String, n: usize, total: usize, what: String },
    Finished { host: String, id: String, n: usize, total: usize, outcome: Outcome, seconds: f64 },
}
