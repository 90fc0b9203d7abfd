//! Each host's template context (the view) and the role's templates
//! rendered with it, in parallel for large instances.

use super::{secrets, view, Compiler, Instance, SecretValues};
use crate::roles::RoleResource;

/// A template file rendered for one host, with its content hash.
#[derive(Clone)]
pub(super) struct Rendered {
    pub(super) text: String,
    pub(super) sha256: String,
}

impl Compiler<'_> {
    fn view(
        &self,
        inst: &Instance,
        host: &str,
        secrets: &SecretValues,
        wants_hosts: bool,
    ) -> handlebars::Context {
        let h = &self.inv.hosts[host];
        // every member of the instance, for roles that list them (skipped otherwise: O(hosts) per host)
        let members: Vec<view::HostView> = if wants_hosts {
            inst.hosts
                .iter()
                .filter_map(|n| self.inv.hosts.get(n))
                .map(view::HostView::of)
                .collect()
        } else {
            Vec::new()
        };
        let mut vars = h.vars.clone();
        for (k, v) in &inst.vars {
            vars.insert(k.clone(), v.clone());
        }
        let mut v = serde_json::json!({
            "stack": { "name": self.stack.name },
            "component": inst.component,
            "host": view::HostView::of(h),
            "hosts": members,
            "vars": vars,
        });
        if let Some(e) = view::etcd(self.inv, self.stack, host) {
            v["etcd"] = serde_json::to_value(e).unwrap_or_default();
        }
        if let Some(p) = view::postgres(self.inv, self.stack, host, secrets) {
            v["postgres"] = serde_json::to_value(p).unwrap_or_default();
        }
        if let Some(r) = view::redis(self.inv, self.stack, host, secrets) {
            v["redis"] = serde_json::to_value(r).unwrap_or_default();
        }
        if let Some(name) = inst.component.strip_prefix("services.") {
            if let Some(sv) = view::service(self.stack, name, host) {
                v["service"] = serde_json::to_value(sv).unwrap_or_default();
            }
        }
        if let Some(q) = view::qdrant(self.inv, self.stack, host) {
            v["qdrant"] = serde_json::to_value(q).unwrap_or_default();
        }
        if let Some(b) = view::pgbouncer(self.inv, self.stack, host, secrets) {
            v["pgbouncer"] = serde_json::to_value(b).unwrap_or_default();
        }
        if let Some(k) = view::keepalived(self.inv, self.stack, host) {
            v["keepalived"] = serde_json::to_value(k).unwrap_or_default();
        }
        if let Some(b) = view::backup(self.stack) {
            v["backup"] = serde_json::to_value(b).unwrap_or_default();
        }
        if let Some(h) = view::haproxy(self.inv, self.stack, secrets) {
            v["haproxy"] = serde_json::to_value(h).unwrap_or_default();
        }
        // secrets only for the templates that need them
        secrets::withhold(&mut v, &inst.sees);
        handlebars::Context::from(v)
    }

    /// Each host's view (`hosts`: some of the instance's), and the role's
    /// template files rendered with it (by manifest position), on every core
    /// for large instances. Pure: a view
    /// depends only on the stack, and rendering only on the view, so the
    /// result is the same as rendering host after host; errors are kept and
    /// reported by `body` only for resources that exist (`when`), in order.
    #[allow(clippy::type_complexity)]
    pub(super) fn prepare(
        &self,
        inst: &Instance,
        hosts: &[String],
        role: &crate::roles::Role,
        secrets: &SecretValues,
        wants_hosts: bool,
    ) -> Vec<(handlebars::Context, Vec<Option<Result<Rendered, String>>>)> {
        let templated: Vec<(usize, String, &String)> = role
            .manifest
            .resources
            .iter()
            .enumerate()
            .filter_map(|(pos, rr)| match rr {
                RoleResource::File {
                    template: Some(t),
                    content: None,
                    ..
                }
                | RoleResource::Unit {
                    template: Some(t),
                    content: None,
                    ..
                } => role
                    .templates
                    .get(t)
                    .map(|text| (pos, format!("roles/{}/templates/{t}", role.name), text)),
                _ => None,
            })
            .collect();
        let n = role.manifest.resources.len();
        let one = |r: &mut crate::render::Renderer, host: &String| {
            let view = self.view(inst, host, secrets, wants_hosts);
            let mut bodies: Vec<Option<Result<Rendered, String>>> = vec![None; n];
            for (pos, name, text) in &templated {
                bodies[*pos] = Some(r.named(name, text, &view).map(|text| Rendered {
                    sha256: crate::util::sha256_hex(text.as_bytes()),
                    text,
                }));
            }
            (view, bodies)
        };
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        if threads < 2 || inst.hosts.len() < 64 || hosts.len() < 2 {
            let mut r = self.r.clone();
            return hosts.iter().map(|h| one(&mut r, h)).collect();
        }
        let chunk = hosts.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = hosts
                .chunks(chunk)
                .map(|hosts| {
                    let mut r = self.r.clone();
                    let one = &one;
                    s.spawn(move || hosts.iter().map(|h| one(&mut r, h)).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("a render thread panicked"))
                .collect()
        })
    }
}
