//! One manifest entry rendered for one host into what the resource should
//! be (`Desired`), with its names, paths and modes checked.

use super::context::Rendered;
use super::{Compiler, Desired, Kind};
use crate::diag::Diagnostic;
use crate::model::secret::Secret;
use crate::roles::{Check, Role, RoleResource};

/// A rendered entry: (kind, name, desired, local key `kind:name`).
type Made = (Kind, String, Desired, String);

/// One manifest entry on one host: what rendering it needs, and where
/// its diagnostics point.
struct Entry<'a> {
    role: &'a Role,
    view: &'a handlebars::Context,
    origin: &'a str,
    ctx: &'a str,
    host: &'a str,
    secret_list: &'a [Secret],
}

impl Compiler<'_> {
    /// Renders one manifest entry. Returns (kind, name, desired, local key).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn desired(
        &mut self,
        role: &Role,
        rr: &RoleResource,
        view: &handlebars::Context,
        origin: &str,
        ctx: &str,
        secret_list: &[Secret],
        host: &str,
        rendered: Option<Result<Rendered, String>>,
    ) -> Option<Made> {
        let e = Entry {
            role,
            view,
            origin,
            ctx,
            host,
            secret_list,
        };
        match rr {
            RoleResource::Package { .. } => self.package(&e, rr),
            RoleResource::Directory { .. } => self.directory(&e, rr),
            RoleResource::File { .. } => self.file(&e, rr, rendered),
            RoleResource::Unit { .. } => self.unit(&e, rr, rendered),
            RoleResource::Service { .. } => self.service(&e, rr),
            RoleResource::Command { .. } => self.command(&e, rr),
            RoleResource::Health { .. } => self.health(&e, rr),
        }
    }

    /// Reports an entry that cannot be made on this host.
    fn bad(&mut self, e: &Entry, msg: String, help: &str) -> Option<Made> {
        self.diags.push(Diagnostic::plain(
            e.origin.to_string(),
            format!("{} on {}: {msg}", e.ctx, e.host),
            Some(help.to_string()),
        ));
        None
    }

    /// An octal `mode`, or `default` when none is given.
    fn mode_of(&mut self, e: &Entry, m: &Option<String>, default: u32) -> Option<u32> {
        let Some(s) = m else {
            return Some(default);
        };
        let mode = parse_mode(s);
        if mode.is_none() {
            self.diags.push(Diagnostic::plain(
                e.origin.to_string(),
                format!("{}: mode `{s}` is not an octal mode", e.ctx),
                Some("write mode = \"0644\"".into()),
            ));
        }
        mode
    }

    fn inline(&mut self, e: &Entry, template: &str) -> Option<String> {
        self.render(e.origin, e.ctx, template, e.view)
    }

    fn inline_opt(&mut self, e: &Entry, template: &Option<String>) -> Option<Option<String>> {
        match template {
            Some(t) => Some(Some(self.inline(e, t)?)),
            None => Some(None),
        }
    }

    fn package(&mut self, e: &Entry, rr: &RoleResource) -> Option<Made> {
        let RoleResource::Package { name, no_start, .. } = rr else {
            return None;
        };
        let name = self.inline(e, name)?;
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.:".contains(c))
        {
            return self.bad(
                e,
                format!(
                    "package name `{}` is not a Debian package name",
                    name.escape_debug()
                ),
                "use the package's name as apt knows it",
            );
        }
        Some((
            Kind::Package,
            name.clone(),
            Desired::Package {
                name: name.clone(),
                no_start: *no_start,
            },
            format!("package:{name}"),
        ))
    }

    fn directory(&mut self, e: &Entry, rr: &RoleResource) -> Option<Made> {
        let RoleResource::Directory {
            path,
            mode,
            owner,
            group,
            ..
        } = rr
        else {
            return None;
        };
        let path = self.inline(e, path)?;
        let owner = &self.inline_opt(e, owner)?;
        let group = &self.inline_opt(e, group)?;
        if !safe_path(&path) || !owner_ok(owner) || !owner_ok(group) {
            return self.bad(
                e,
                format!(
                    "directory `{}`: path must be absolute without `..`, owner/group plain names",
                    path.escape_debug()
                ),
                "fix the role's path, owner or group",
            );
        }
        let mode = match mode {
            Some(_) => Some(self.mode_of(e, mode, 0o755)?),
            None => None,
        };
        Some((
            Kind::Directory,
            path.clone(),
            Desired::Directory {
                path: path.clone(),
                mode,
                owner: owner.clone(),
                group: group.clone(),
            },
            format!("directory:{path}"),
        ))
    }

    fn file(
        &mut self,
        e: &Entry,
        rr: &RoleResource,
        rendered: Option<Result<Rendered, String>>,
    ) -> Option<Made> {
        let RoleResource::File {
            path,
            template,
            content,
            mode,
            owner,
            group,
            sensitive,
            validate,
            ..
        } = rr
        else {
            return None;
        };
        let path = self.inline(e, path)?;
        let owner = &self.inline_opt(e, owner)?;
        let group = &self.inline_opt(e, group)?;
        if !safe_path(&path) || !owner_ok(owner) || !owner_ok(group) {
            return self.bad(
                e,
                format!(
                    "file `{}`: path must be absolute without `..`, owner/group plain names",
                    path.escape_debug()
                ),
                "fix the role's path, owner or group",
            );
        }
        let (body, sha256) =
            self.body(e.role, template, content, e.view, e.origin, e.ctx, rendered)?;
        let mode = self.mode_of(e, mode, 0o644)?;
        let validate = self.inline_opt(e, validate)?;
        let sensitive = *sensitive || e.secret_list.iter().any(|s| body.contains(s.expose()));
        Some((
            Kind::File,
            path.clone(),
            file(
                path.clone(),
                body,
                sha256,
                mode,
                owner.clone(),
                group.clone(),
                sensitive,
                validate,
                false,
            ),
            format!("file:{path}"),
        ))
    }

    fn unit(
        &mut self,
        e: &Entry,
        rr: &RoleResource,
        rendered: Option<Result<Rendered, String>>,
    ) -> Option<Made> {
        let RoleResource::Unit {
            name,
            template,
            content,
            ..
        } = rr
        else {
            return None;
        };
        let name = self.inline(e, name)?;
        if !unit_name_ok(&name) {
            return self.bad(
                e,
                format!(
                    "unit name `{}` is not a systemd unit name",
                    name.escape_debug()
                ),
                "write e.g. name = \"myapp.service\"",
            );
        }
        let (body, sha256) =
            self.body(e.role, template, content, e.view, e.origin, e.ctx, rendered)?;
        let sensitive = e.secret_list.iter().any(|s| body.contains(s.expose()));
        let path = format!("/etc/systemd/system/{name}");
        Some((
            Kind::Unit,
            name.clone(),
            file(path, body, sha256, 0o644, None, None, sensitive, None, true),
            format!("unit:{name}"),
        ))
    }

    fn service(&mut self, e: &Entry, rr: &RoleResource) -> Option<Made> {
        let RoleResource::Service {
            name,
            enabled,
            running,
            no_block,
            reload,
            ..
        } = rr
        else {
            return None;
        };
        let name = self.inline(e, name)?;
        if !unit_name_ok(&name) {
            return self.bad(
                e,
                format!(
                    "service `{}` is not a systemd unit name",
                    name.escape_debug()
                ),
                "write e.g. name = \"etcd\"",
            );
        }
        Some((
            Kind::Service,
            name.clone(),
            Desired::Service {
                name: name.clone(),
                enabled: *enabled,
                running: *running,
                no_block: *no_block,
                reload: *reload,
                restart_on: vec![],
            },
            format!("service:{name}"),
        ))
    }

    fn command(&mut self, e: &Entry, rr: &RoleResource) -> Option<Made> {
        let RoleResource::Command {
            name,
            run,
            unless,
            creates,
            on_change,
            describe,
            ..
        } = rr
        else {
            return None;
        };
        let name = self.inline(e, name)?;
        if !crate::model::valid_name(&name) {
            return self.bad(
                e,
                format!("command name `{}` is not allowed", name.escape_debug()),
                "use letters, digits, - and _",
            );
        }
        if unless.is_none() && creates.is_none() && on_change.is_empty() {
            return self.bad(
                e,
                format!("command {name} has no guard, so it would run on every apply"),
                "add unless = \"...\", creates = \"/path\" or on_change = [\"file:...\"]",
            );
        }
        let run = self.inline(e, run)?;
        let unless = self.inline_opt(e, unless)?;
        let creates = self.inline_opt(e, creates)?;
        let describe = self.inline_opt(e, describe)?;
        Some((
            Kind::Command,
            name.clone(),
            Desired::Command {
                run,
                unless,
                creates,
                on_change: vec![],
                describe,
            },
            format!("command:{name}"),
        ))
    }

    fn health(&mut self, e: &Entry, rr: &RoleResource) -> Option<Made> {
        let RoleResource::Health {
            name,
            command,
            http,
            tcp,
            timeout,
            interval,
            ..
        } = rr
        else {
            return None;
        };
        let name = self.inline(e, name)?;
        let check = match (command, http, tcp) {
            (Some(c), None, None) => Check::Command(self.inline(e, c)?),
            (None, Some(u), None) => Check::Http(self.inline(e, u)?),
            (None, None, Some(t)) => Check::Tcp(self.inline(e, t)?),
            _ => {
                return self.bad(
                    e,
                    format!("health {name} needs exactly one of command, http or tcp"),
                    "keep one of them",
                )
            }
        };
        Some((
            Kind::Health,
            name.clone(),
            Desired::Health {
                check,
                timeout: (*timeout).max(1),
                interval: (*interval).max(1),
            },
            format!("health:{name}"),
        ))
    }

    /// A file's content, and its hash when `rendered` (its template already
    /// rendered for this host, see `prepare`) has it.
    #[allow(clippy::too_many_arguments)]
    fn body(
        &mut self,
        role: &Role,
        template: &Option<String>,
        content: &Option<String>,
        view: &handlebars::Context,
        origin: &str,
        ctx: &str,
        rendered: Option<Result<Rendered, String>>,
    ) -> Option<(String, Option<String>)> {
        match (template, content) {
            (Some(t), None) => {
                let text = role.templates.get(t)?;
                let name = role.template_path(t);
                let r = match rendered {
                    Some(r) => r.map(|r| (r.text, Some(r.sha256))),
                    None => self.r.named(&name, text, view).map(|b| (b, None)),
                };
                match r {
                    Ok(s) => Some(s),
                    Err(e) => {
                        self.diags.push(Diagnostic::plain(
                            name,
                            format!("{ctx}: {e}"),
                            Some(super::secrets::template_help(&e)),
                        ));
                        None
                    }
                }
            }
            (None, Some(c)) => self.render(origin, ctx, c, view).map(|b| (b, None)),
            _ => {
                self.diags.push(Diagnostic::plain(
                    origin.to_string(),
                    format!("{ctx}: give exactly one of template or content"),
                    Some("keep template = \"x.hbs\" or content = \"...\"".into()),
                ));
                None
            }
        }
    }
}

fn owner_ok(o: &Option<String>) -> bool {
    o.as_deref().map(crate::model::valid_name).unwrap_or(true)
}

/// A unit name (`etcd.service`) or a drop-in (`etcd.service.d/rampart.conf`).
fn unit_name_ok(n: &str) -> bool {
    let plain = |n: &str| {
        !n.is_empty()
            && n.len() < 256
            && !n.starts_with('.')
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@:".contains(c))
    };
    match n.split_once(".d/") {
        Some((unit, conf)) => plain(unit) && plain(conf) && conf.ends_with(".conf"),
        None => plain(n),
    }
}

#[allow(clippy::too_many_arguments)]
fn file(
    path: String,
    body: String,
    sha256: Option<String>,
    mode: u32,
    owner: Option<String>,
    group: Option<String>,
    sensitive: bool,
    validate: Option<String>,
    daemon_reload: bool,
) -> Desired {
    let content = body.into_bytes();
    Desired::File {
        sha256: sha256.unwrap_or_else(|| crate::util::sha256_hex(&content)),
        content,
        path,
        mode,
        owner: owner.unwrap_or_else(|| "root".into()),
        group: group.unwrap_or_else(|| "root".into()),
        sensitive,
        validate,
        daemon_reload,
        notify: vec![],
    }
}

fn parse_mode(s: &str) -> Option<u32> {
    let t = s.trim_start_matches("0o");
    if t.is_empty() || t.len() > 4 {
        return None;
    }
    u32::from_str_radix(t, 8).ok().filter(|m| *m <= 0o7777)
}

pub(super) fn safe_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.contains('\n')
        && !p.contains('\0')
        && !p.split('/').any(|s| s == "..")
        && p.len() < 4096
        && !p.ends_with('/')
}
