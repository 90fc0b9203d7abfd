//! A CA change is a rolling operation only while every host trusts both CAs
//! (`[tls] trust`, README "Changing the CA"). This check, pure, refuses a
//! plan that would roll certificates a host cannot verify yet:
//!
//! - a certificate about to be delivered must be issued by a CA that every
//!   host already trusts (its `ca.crt` as it is now), since the hosts not yet
//!   rolled verify it;
//! - a certificate a host holds now must be issued by a CA that every host
//!   will still trust (its `ca.crt` as planned), since the hosts already
//!   rolled verify it until its own turn.

use super::issue::{authority_key_id, subject_key_id};
use super::view::{APP, CA_FILE, CA_ONLY, EVERY_FOLDER};
use crate::compile::{Compiled, Desired};
use crate::facts::HostFacts;
use std::collections::BTreeMap;
use x509_parser::prelude::{FromDer, X509Certificate};

/// How a certificate names its CA, and how a CA is named: (subject or
/// issuer DER, key identifier).
type CaId = (Vec<u8>, Option<Vec<u8>>);

fn certs(pem: &[u8]) -> Vec<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .filter_map(Result::ok)
        .filter(|p| p.label == "CERTIFICATE")
        .map(|p| p.contents)
        .collect()
}

/// The CAs of a bundle.
fn cas(pem: &[u8]) -> Vec<CaId> {
    certs(pem)
        .iter()
        .filter_map(|d| {
            let (_, x) = X509Certificate::from_der(d).ok()?;
            Some((x.subject().as_raw().to_vec(), subject_key_id(&x)))
        })
        .collect()
}

/// The CA a certificate names as its issuer.
fn issuer(pem: &[u8]) -> Option<CaId> {
    let d = certs(pem).into_iter().next()?;
    let (_, x) = X509Certificate::from_der(&d).ok()?;
    Some((x.issuer().as_raw().to_vec(), authority_key_id(&x)))
}

fn trusted(bundle: &[CaId], by: &CaId) -> bool {
    bundle.iter().any(|(subject, ski)| {
        subject == &by.0
            && match (ski, &by.1) {
                (Some(s), Some(a)) => s == a,
                _ => true,
            }
    })
}

/// A file's content on `host` now (None: absent or unknown) and as planned.
fn now_and_planned(
    c: &Compiled,
    facts: &BTreeMap<String, HostFacts>,
    host: &str,
    path: &str,
) -> Option<(Option<Vec<u8>>, Vec<u8>)> {
    let i = c.index_of(&format!("{host}/file{path}"))?;
    let Desired::File { content, .. } = &c.resources[i].desired else {
        return None;
    };
    let now = facts
        .get(host)
        .and_then(|f| f.files.get(path))
        .and_then(|f| {
            // present with the planned hash: its content was not sent
            f.exists
                .then(|| f.content.clone().unwrap_or_else(|| content.clone()))
        });
    Some((now, content.clone()))
}

/// The refusals (empty when the CAs the hosts trust allow the roll).
pub fn refusals(c: &Compiled, facts: &BTreeMap<String, HostFacts>) -> Vec<String> {
    // every trust bundle, now and planned, and every certificate, now and planned
    let (mut bundles_now, mut bundles_planned) = (Vec::new(), Vec::new());
    let (mut leaves_now, mut leaves_planned) = (Vec::new(), Vec::new());
    for h in &c.hosts {
        for p in EVERY_FOLDER {
            if let Some((now, planned)) = now_and_planned(c, facts, h, &p.ca_file()) {
                if let Some(n) = now {
                    bundles_now.push((h.clone(), cas(&n)));
                }
                bundles_planned.push((h.clone(), cas(&planned)));
            }
            if let Some((now, planned)) = now_and_planned(c, facts, h, &p.cert_file()) {
                if now.as_ref() != Some(&planned) {
                    leaves_planned.push((h.clone(), p.name, issuer(&planned)));
                }
                if let Some(n) = now {
                    leaves_now.push((h.clone(), p.name, issuer(&n)));
                }
            }
        }
        // app services' folders: their CA bundle (they verify servers with
        // it) and their copy of the host's client certificate
        let app_files: Vec<&str> = c
            .resources
            .iter()
            .filter(|r| &r.id.host == h && r.component.starts_with("services."))
            .filter_map(|r| match &r.desired {
                Desired::File { .. } => Some(r.id.name.as_str()),
                _ => None,
            })
            .filter(|p| p.starts_with(APP.dir))
            .collect();
        for path in &app_files {
            let Some((now, planned)) = now_and_planned(c, facts, h, path) else {
                continue;
            };
            if path.ends_with(&format!("/{CA_FILE}")) {
                if let Some(n) = now {
                    bundles_now.push((h.clone(), cas(&n)));
                }
                bundles_planned.push((h.clone(), cas(&planned)));
            } else if path.ends_with("/client.crt") {
                if now.as_ref() != Some(&planned) {
                    leaves_planned.push((h.clone(), APP.name, issuer(&planned)));
                }
                if let Some(n) = now {
                    leaves_now.push((h.clone(), APP.name, issuer(&n)));
                }
            }
        }
        for (comp, path) in CA_ONLY {
            let _ = comp;
            if let Some((now, planned)) = now_and_planned(c, facts, h, path) {
                if let Some(n) = now {
                    bundles_now.push((h.clone(), cas(&n)));
                }
                bundles_planned.push((h.clone(), cas(&planned)));
            }
        }
    }
    let mut out = Vec::new();
    let mut doubt = |what: String| {
        if !out.contains(&what) {
            out.push(what);
        }
    };
    for (h, name, by) in &leaves_planned {
        let Some(by) = by else { continue };
        let blind = not_trusting(&bundles_now, by);
        if !blind.is_empty() {
            doubt(format!(
                "tls: {h}'s new {name} certificate is issued by a CA that {} do not trust yet; rolled now, the members not yet rolled would refuse it. \
                 Change the CA in two applies: first add the new CA's certificate to `[tls] trust` (the old CA still signs) and apply; \
                 then make it `ca`/`ca_key` with the old CA's certificate in `trust`, and apply (README: Changing the CA).",
                blind
            ));
        }
    }
    for (h, name, by) in &leaves_now {
        let Some(by) = by else { continue };
        let blind = not_trusting(&bundles_planned, by);
        if !blind.is_empty() {
            doubt(format!(
                "tls: {h} holds a {name} certificate from a CA that {} would no longer trust; the members rolled first would refuse it until its own turn. \
                 Keep the old CA's certificate in `[tls] trust` until every host holds a certificate from the new CA, then drop it in a later apply (README: Changing the CA).",
                blind
            ));
        }
    }
    out
}

/// The hosts (sorted, once each) whose bundle does not trust `by`; empty
/// when every one does.
fn not_trusting(bundles: &[(String, Vec<CaId>)], by: &CaId) -> String {
    let mut v: Vec<&str> = bundles
        .iter()
        .filter(|(_, b)| !trusted(b, by))
        .map(|(o, _)| o.as_str())
        .collect();
    v.sort();
    v.dedup();
    v.join(", ")
}
