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
        // each component's view under its key (a JSON object's keys are
        // sorted, so the order asked in does not show)
        for c in crate::components::ALL {
            if let Some((key, view)) = c.template_view(&crate::components::ViewCx {
                inv: self.inv,
                stack: self.stack,
                instance: &inst.component,
                host,
                secrets,
            }) {
                v[key] = view;
            }
        }
        // TLS files of this role on this host (its key only in its own context)
        v["tls"] = serde_json::to_value(crate::tls::view::view(
            self.stack,
            &inst.component,
            host,
            secrets,
        ))
        .unwrap_or_default();
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
                    .map(|text| (pos, role.template_path(t), text)),
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

#[cfg(test)]
mod tests {
    /// The context is a JSON object whose keys serde_json keeps sorted (no
    /// `preserve_order`), so the order in which components add their views
    /// never shows in what templates see or in snapshots.
    #[test]
    fn context_keys_are_sorted_whatever_the_insertion_order() {
        let mut v = serde_json::json!({ "stack": 1 });
        v["redis"] = 2.into();
        v["etcd"] = 3.into();
        let keys: Vec<&String> = v
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["etcd", "redis", "stack"]);
    }
}
