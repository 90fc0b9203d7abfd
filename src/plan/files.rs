//! Directories and files: created, updated (content, with a diff unless
//! sensitive), or their mode and owner set.

use super::walk::{Cx, Diff, Proto};
use super::{Action, Op};
use crate::compile::Desired;

/// Facts of what a host does not have (borrowed, not cloned: file facts carry content).
static NO_FILE: crate::facts::FileFact = crate::facts::FileFact {
    exists: false,
    is_dir: false,
    sha256: None,
    mode: None,
    owner: None,
    group: None,
    content: None,
};

pub(super) fn directory(cx: &Cx) -> Option<Proto> {
    let Desired::Directory {
        path,
        mode,
        owner,
        group,
    } = &cx.r.desired
    else {
        return None;
    };
    let (f, managed) = (cx.f, cx.managed);
    let fact = f.files.get(path).unwrap_or(&NO_FILE);
    if !fact.exists {
        Some((
            Action::Create,
            vec!["missing".into()],
            vec![Op::MakeDir {
                path: path.clone(),
                mode: *mode,
                owner: owner.clone(),
                group: group.clone(),
            }],
            None,
            false,
        ))
    } else {
        let mut why = Vec::new();
        if let (Some(m), Some(have)) = (mode, fact.mode) {
            if *m != have {
                why.push(format!("mode {have:04o} -> {m:04o}"));
            }
        }
        if owner.is_some() && owner != &fact.owner {
            why.push(format!(
                "owner {} -> {}",
                fact.owner.clone().unwrap_or_default(),
                owner.clone().unwrap_or_default()
            ));
        }
        if group.is_some() && group != &fact.group {
            why.push(format!(
                "group {} -> {}",
                fact.group.clone().unwrap_or_default(),
                group.clone().unwrap_or_default()
            ));
        }
        (!why.is_empty()).then(|| {
            (
                Action::Update,
                why,
                vec![Op::MakeDir {
                    path: path.clone(),
                    mode: *mode,
                    owner: owner.clone(),
                    group: group.clone(),
                }],
                None,
                managed.is_some(),
            )
        })
    }
}

pub(super) fn file<'a>(cx: &Cx<'a, '_>, i: usize, diffs: &mut Vec<Diff<'a>>) -> Option<Proto> {
    let Desired::File {
        path,
        content,
        sha256,
        mode,
        owner,
        group,
        sensitive,
        validate,
        daemon_reload,
        notify,
    } = &cx.r.desired
    else {
        return None;
    };
    let (f, managed) = (cx.f, cx.managed);
    let fact = f.files.get(path).unwrap_or(&NO_FILE);
    let write = Op::WriteFile {
        path: path.clone(),
        sha256: sha256.clone(),
        mode: *mode,
        owner: owner.clone(),
        group: group.clone(),
        expect: fact.sha256.clone(),
        validate: validate.clone(),
        daemon_reload: *daemon_reload,
        notify: notify.clone(),
    };
    if !fact.exists {
        if !sensitive {
            diffs.push((i, path, b"", content));
        }
        Some((
            Action::Create,
            vec![format!("{mode:04o} {owner}:{group}")],
            vec![write],
            None,
            false,
        ))
    } else if fact.sha256.as_deref() != Some(sha256.as_str()) {
        let drift = managed
            .and_then(|m| m.sha256.as_deref())
            .is_some_and(|s| Some(s) != fact.sha256.as_deref());
        let d = match &fact.content {
            _ if *sensitive => None,
            Some(old) => {
                diffs.push((i, path, old, content));
                None
            }
            None => Some("(the current file is too large to show a diff)\n".to_string()),
        };
        let why = if *sensitive {
            "content changed (sensitive value changed)"
        } else {
            "content changed"
        };
        Some((Action::Update, vec![why.to_string()], vec![write], d, drift))
    } else {
        let mut why = Vec::new();
        if fact.mode != Some(*mode) {
            why.push(format!("mode {:04o} -> {mode:04o}", fact.mode.unwrap_or(0)));
        }
        if fact.owner.as_deref() != Some(owner) || fact.group.as_deref() != Some(group) {
            why.push(format!(
                "owner {}:{} -> {owner}:{group}",
                fact.owner.clone().unwrap_or_default(),
                fact.group.clone().unwrap_or_default()
            ));
        }
        (!why.is_empty()).then(|| {
            (
                Action::Update,
                why,
                vec![Op::SetAttrs {
                    path: path.clone(),
                    mode: *mode,
                    owner: owner.clone(),
                    group: group.clone(),
                }],
                None,
                managed.is_some(),
            )
        })
    }
}
