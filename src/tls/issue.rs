//! X.509 with rcgen, pure (the time is given): the CA rampart creates for a
//! stack, an operator's CA read back, certificates issued per host and
//! purpose, and whether a stored certificate is still the one to use.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

/// A certificate and its private key, both PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct Pair {
    pub cert: String,
    pub key: String,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair")
            .field("cert", &self.cert)
            .field("key", &"(sensitive)")
            .finish()
    }
}

/// A CA that signs: its certificate (PEM) and an issuer over its key.
pub struct Ca {
    pub cert: String,
    issuer: Issuer<'static, KeyPair>,
    /// Its subject, DER (a certificate it issued names it as its issuer).
    subject: Vec<u8>,
    /// Its subject key identifier, when its certificate has one.
    ski: Option<Vec<u8>>,
}

/// A new CA for `stack`, valid `days` from `now` (an hour back, for clocks
/// slightly behind).
pub fn new_ca(stack: &str, now: OffsetDateTime, days: u32) -> Result<Pair, String> {
    let key = KeyPair::generate().map_err(|e| format!("cannot generate a CA key: {e}"))?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("rampart {stack} CA"));
    dn.push(DnType::OrganizationName, "rampart");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(days.into());
    let cert = p
        .self_signed(&key)
        .map_err(|e| format!("cannot sign the CA certificate: {e}"))?;
    Ok(Pair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// Parses the first certificate of a PEM text.
fn parse_pem(pem: &str) -> Result<(Vec<u8>, String), String> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate ({e})"))?;
    Ok((p.contents, p.label))
}

/// Checks that a PEM text is one CA certificate (for `[tls] trust`).
pub fn check_ca_cert(cert_pem: &str) -> Result<(), String> {
    let (der, label) = parse_pem(cert_pem)?;
    if label != "CERTIFICATE" {
        return Err(format!("it holds a {label}, not a CERTIFICATE"));
    }
    let (_, x) = X509Certificate::from_der(&der).map_err(|e| format!("it is not X.509 ({e})"))?;
    if !x.is_ca() {
        return Err("it is not a CA's certificate (no basicConstraints CA:TRUE)".into());
    }
    Ok(())
}

/// Reads a CA back: its certificate and key (PEM), checked to belong together
/// and to be a CA.
pub fn load_ca(cert_pem: &str, key_pem: &str) -> Result<Ca, String> {
    let (der, label) = parse_pem(cert_pem).map_err(|e| format!("the CA certificate is {e}"))?;
    if label != "CERTIFICATE" {
        return Err(format!(
            "the CA certificate file holds a {label}, not a CERTIFICATE"
        ));
    }
    let (_, x) = X509Certificate::from_der(&der)
        .map_err(|e| format!("the CA certificate is not X.509 ({e})"))?;
    if !x.is_ca() {
        return Err("the CA certificate is not a CA's (no basicConstraints CA:TRUE)".into());
    }
    let key = KeyPair::from_pem(key_pem)
        .map_err(|e| format!("the CA key is not a PEM private key rcgen can use ({e})"))?;
    if key.public_key_raw() != x.public_key().subject_public_key.data.as_ref() {
        return Err("the CA key does not belong to the CA certificate".into());
    }
    let subject = x.subject().as_raw().to_vec();
    let ski = subject_key_id(&x);
    let issuer = Issuer::from_ca_cert_pem(cert_pem, key)
        .map_err(|e| format!("rcgen cannot sign with this CA ({e})"))?;
    Ok(Ca {
        cert: cert_pem.to_string(),
        issuer,
        subject,
        ski,
    })
}

/// A SAN as rcgen takes it: an IP address or a DNS name.
fn san(s: &str) -> Result<SanType, String> {
    Ok(match s.parse::<IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(
            s.to_string()
                .try_into()
                .map_err(|e| format!("`{s}` cannot be a DNS name in a certificate ({e})"))?,
        ),
    })
}

/// A certificate for `cn` with `sans`, for servers and clients alike (etcd
/// peers are both), signed by `ca`, valid `days` from `now`, with a new key.
pub fn issue(
    ca: &Ca,
    cn: &str,
    sans: &[String],
    now: OffsetDateTime,
    days: u32,
) -> Result<Pair, String> {
    let key = KeyPair::generate().map_err(|e| format!("cannot generate a key: {e}"))?;
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.subject_alt_names = sans.iter().map(|s| san(s)).collect::<Result<_, _>>()?;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.use_authority_key_identifier_extension = true;
    p.not_before = now - Duration::hours(1);
    p.not_after = now + Duration::days(days.into());
    let cert = p
        .signed_by(&key, &ca.issuer)
        .map_err(|e| format!("cannot sign a certificate for {cn}: {e}"))?;
    Ok(Pair {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

/// The names of a SAN list in one spelling (IP addresses as Rust writes
/// them), sorted.
fn normal(sans: &[String]) -> Vec<String> {
    let mut v: Vec<String> = sans
        .iter()
        .map(|s| s.parse::<IpAddr>().map_or(s.clone(), |ip| ip.to_string()))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Whether a stored certificate is still the one to deliver: issued by `ca`,
/// for exactly `sans`, its key the one stored beside it, and not expiring
/// within `renew_days` of `now`. `Err` says why it must be issued again.
pub fn still_good(
    stored: &Pair,
    ca: &Ca,
    sans: &[String],
    now: OffsetDateTime,
    renew_days: u32,
) -> Result<(), String> {
    let (der, _) = parse_pem(&stored.cert)?;
    let (_, x) =
        X509Certificate::from_der(&der).map_err(|e| format!("not an X.509 certificate ({e})"))?;
    let key = KeyPair::from_pem(&stored.key).map_err(|e| format!("its key is unreadable ({e})"))?;
    if key.public_key_raw() != x.public_key().subject_public_key.data.as_ref() {
        return Err("its key does not belong to it".into());
    }
    if x.issuer().as_raw() != ca.subject.as_slice() {
        return Err("another CA issued it".into());
    }
    let aki = authority_key_id(&x);
    if let (Some(a), Some(s)) = (&aki, &ca.ski) {
        if a != s {
            return Err("another CA key signed it".into());
        }
    }
    let mut have: Vec<String> = Vec::new();
    if let Ok(Some(ext)) = x.subject_alternative_name() {
        for n in &ext.value.general_names {
            match n {
                GeneralName::DNSName(d) => have.push(d.to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => have.push(
                        IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default()).to_string(),
                    ),
                    16 => have.push(
                        IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default()).to_string(),
                    ),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    let (have, want) = (normal(&have), normal(sans));
    if have != want {
        return Err(format!(
            "its names changed (it has {}, the stack needs {})",
            have.join(" "),
            want.join(" ")
        ));
    }
    let left = x.validity().not_after.timestamp() - now.unix_timestamp();
    if left < i64::from(renew_days) * 86_400 {
        return Err(format!(
            "it expires in {} days, within renew_days = {renew_days}",
            left.max(0) / 86_400
        ));
    }
    Ok(())
}

/// Days until the certificate expires (negative: expired), from `now`.
pub fn days_left(cert_pem: &str, now: OffsetDateTime) -> Option<i64> {
    let (der, _) = parse_pem(cert_pem).ok()?;
    let (_, x) = X509Certificate::from_der(&der).ok()?;
    Some((x.validity().not_after.timestamp() - now.unix_timestamp()).div_euclid(86_400))
}

/// A certificate's own key identifier (a CA's: what its leaves name).
pub(super) fn subject_key_id(x: &X509Certificate) -> Option<Vec<u8>> {
    x.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
}

/// The key identifier of the CA that signed a certificate.
pub(super) fn authority_key_id(x: &X509Certificate) -> Option<Vec<u8>> {
    x.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
    }

    fn sans() -> Vec<String> {
        ["lab1", "198.18.0.11", "localhost", "127.0.0.1"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn a_certificate_stays_until_its_names_ca_or_expiry_change() {
        let ca_pair = new_ca("lab", now(), 3650).unwrap();
        let ca = load_ca(&ca_pair.cert, &ca_pair.key).unwrap();
        let leaf = issue(&ca, "lab1", &sans(), now(), 365).unwrap();
        assert!(leaf.key.contains("PRIVATE KEY"));
        // the same names in another order and spelling: still good
        let mut other_order = sans();
        other_order.reverse();
        assert_eq!(still_good(&leaf, &ca, &other_order, now(), 30), Ok(()));
        assert_eq!(days_left(&leaf.cert, now()), Some(365));
        // a new name (a VIP): issued again
        let mut more = sans();
        more.push("198.18.0.100".into());
        let e = still_good(&leaf, &ca, &more, now(), 30).unwrap_err();
        assert!(e.contains("names changed"), "{e}");
        // close to expiry: issued again
        let later = now() + Duration::days(340);
        let e = still_good(&leaf, &ca, &sans(), later, 30).unwrap_err();
        assert!(e.contains("expires in 25 days"), "{e}");
        assert_eq!(still_good(&leaf, &ca, &sans(), later, 20), Ok(()));
        // another CA: issued again
        let other = new_ca("lab", now(), 3650).unwrap();
        let other = load_ca(&other.cert, &other.key).unwrap();
        assert!(still_good(&leaf, &other, &sans(), now(), 30).is_err());
        // a key that is not its own: issued again
        let second = issue(&ca, "lab1", &sans(), now(), 365).unwrap();
        let mixed = Pair {
            cert: leaf.cert.clone(),
            key: second.key,
        };
        assert_eq!(
            still_good(&mixed, &ca, &sans(), now(), 30),
            Err("its key does not belong to it".into())
        );
    }

    #[test]
    fn a_ca_whose_key_is_not_its_own_or_that_is_no_ca_is_refused() {
        let a = new_ca("lab", now(), 3650).unwrap();
        let b = new_ca("lab", now(), 3650).unwrap();
        assert_eq!(
            load_ca(&a.cert, &b.key).err().as_deref(),
            Some("the CA key does not belong to the CA certificate")
        );
        let ca = load_ca(&a.cert, &a.key).unwrap();
        let leaf = issue(&ca, "lab1", &sans(), now(), 365).unwrap();
        assert!(load_ca(&leaf.cert, &leaf.key)
            .err()
            .unwrap()
            .contains("not a CA"));
        assert!(load_ca("garbage", &a.key).err().unwrap().contains("PEM"));
    }

    #[test]
    fn a_pair_never_shows_its_key() {
        let p = Pair {
            cert: "C".into(),
            key: "SECRET".into(),
        };
        assert!(!format!("{p:?}").contains("SECRET"));
    }
}
