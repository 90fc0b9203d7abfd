//! Services: enabled or disabled, started or stopped, and restarted (or
//! reloaded) when an input changed or a restart is owed.

use super::walk::{changed_self, Cx, Proto};
use super::{Action, Op, SystemctlVerb};
use crate::compile::Desired;

static NO_SERVICE: crate::facts::ServiceFact = crate::facts::ServiceFact {
    enabled: String::new(),
    active: String::new(),
};

fn enabled_ok(s: &str) -> bool {
    matches!(
        s,
        "enabled" | "enabled-runtime" | "static" | "alias" | "indirect" | "generated"
    )
}

pub(super) fn service(cx: &Cx) -> Option<Proto> {
    let Desired::Service {
        name,
        enabled,
        running,
        no_block,
        reload,
        restart_on,
    } = &cx.r.desired
    else {
        return None;
    };
    let (compiled, f, managed, steps) = (cx.compiled, cx.f, cx.managed, cx.steps);
    let fact = f.services.get(name).unwrap_or(&NO_SERVICE);
    let mut ops = Vec::new();
    let mut why = Vec::new();
    let mut action = Action::Update;
    if *enabled && !enabled_ok(&fact.enabled) {
        ops.push(Op::Systemctl {
            verb: SystemctlVerb::Enable,
            unit: name.clone(),
            no_block: false,
        });
        why.push(format!(
            "enable ({})",
            if fact.enabled.is_empty() {
                "not installed yet"
            } else {
                &fact.enabled
            }
        ));
    } else if !*enabled && fact.enabled == "enabled" {
        ops.push(Op::Systemctl {
            verb: SystemctlVerb::Disable,
            unit: name.clone(),
            no_block: false,
        });
        why.push("disable".into());
    }
    let active = fact.active == "active";
    let triggers: Vec<String> = restart_on
        .iter()
        .filter(|&&t| changed_self(steps, t))
        .map(|&t| compiled.resources[t].id.to_string())
        .collect();
    let pending = f.pending.contains(name);
    if *running && (!triggers.is_empty() || pending) {
        // restart (or reload) also covers a service that a package
        // install started with its default config during this apply
        let verb = if *reload {
            SystemctlVerb::ReloadOrRestart
        } else {
            SystemctlVerb::Restart
        };
        ops.push(Op::Systemctl {
            verb,
            unit: name.clone(),
            no_block: *no_block,
        });
        if !triggers.is_empty() {
            why.push(format!(
                "{}: {} changed",
                if *reload { "reload" } else { "restart" },
                triggers.join(", ")
            ));
        }
        if pending {
            why.push("restart owed by an earlier apply that stopped before it".to_string());
        }
        if ops.len() == 1 && active {
            action = Action::Restart;
        }
    } else if *running && !active {
        ops.push(Op::Systemctl {
            verb: SystemctlVerb::Start,
            unit: name.clone(),
            no_block: *no_block,
        });
        why.push(format!(
            "start ({})",
            if fact.active.is_empty() {
                "not installed yet"
            } else {
                &fact.active
            }
        ));
    } else if !*running && active {
        ops.push(Op::Systemctl {
            verb: SystemctlVerb::Stop,
            unit: name.clone(),
            no_block: false,
        });
        why.push("stop".into());
    }
    if pending || (!triggers.is_empty() && !ops.is_empty()) {
        ops.push(Op::ClearPending { unit: name.clone() });
    }
    // managed before, and now stopped or disabled with no change of ours behind it: drift
    let drift = managed.is_some() && triggers.is_empty() && !pending && !why.is_empty();
    (!why.is_empty()).then_some((action, why, ops, None, drift))
}
