//! The systemctl verbs a plan runs: each serialized (JSON, saved plans) as
//! the very string systemctl is given, so plans read and save as before.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SystemctlVerb {
    #[serde(rename = "enable")]
    Enable,
    #[serde(rename = "disable")]
    Disable,
    #[serde(rename = "start")]
    Start,
    #[serde(rename = "stop")]
    Stop,
    #[serde(rename = "restart")]
    Restart,
    /// A reload where the unit has one (Patroni's), else a restart.
    #[serde(rename = "reload-or-restart")]
    ReloadOrRestart,
    /// Stop and disable: a service no longer in the stack.
    #[serde(rename = "disable --now")]
    DisableNow,
    #[serde(rename = "daemon-reload")]
    DaemonReload,
}

impl SystemctlVerb {
    /// The words systemctl is given (safe in a shell as they are).
    pub fn as_str(self) -> &'static str {
        match self {
            SystemctlVerb::Enable => "enable",
            SystemctlVerb::Disable => "disable",
            SystemctlVerb::Start => "start",
            SystemctlVerb::Stop => "stop",
            SystemctlVerb::Restart => "restart",
            SystemctlVerb::ReloadOrRestart => "reload-or-restart",
            SystemctlVerb::DisableNow => "disable --now",
            SystemctlVerb::DaemonReload => "daemon-reload",
        }
    }
}

impl fmt::Display for SystemctlVerb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `verb == "restart"`: compares with the string systemctl is given.
impl PartialEq<str> for SystemctlVerb {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SystemctlVerb {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::SystemctlVerb as V;

    const ALL: [V; 8] = [
        V::Enable,
        V::Disable,
        V::Start,
        V::Stop,
        V::Restart,
        V::ReloadOrRestart,
        V::DisableNow,
        V::DaemonReload,
    ];

    /// JSON and saved plans hold the verb as the string systemctl is given,
    /// as they did when it was a string: same bytes both ways.
    #[test]
    fn serialized_as_the_systemctl_string() {
        for v in ALL {
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(json, format!("\"{}\"", v.as_str()));
            assert_eq!(serde_json::from_str::<V>(&json).unwrap(), v);
        }
        assert_eq!(
            serde_json::to_string(&V::DisableNow).unwrap(),
            "\"disable --now\""
        );
        assert_eq!(
            serde_json::to_string(&V::ReloadOrRestart).unwrap(),
            "\"reload-or-restart\""
        );
        assert!(serde_json::from_str::<V>("\"rm -rf /\"").is_err());
    }
}
