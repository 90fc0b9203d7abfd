//! The certificate expiry alert (scrape job `node`: node_exporter's textfile
//! collector reads what `rampart-tls-metrics-PURPOSE` writes on each host
//! every 15 minutes and whenever the certificate changes): a certificate or
//! its CA, as the host holds it, expires within `renew_days`. `plan`/`apply`
//! renew a certificate within that window, so the alert means no apply has
//! run since it entered it (or the CA itself is due, which `apply` does not
//! renew: README, "Changing the CA").

use crate::model::stack::Stack;

pub(crate) fn rules(stack: &Stack, rule: &mut crate::components::AlertRule<'_>) {
    let Some(t) = stack.tls.as_ref().filter(|t| t.on()) else {
        return;
    };
    let days = t.renew_days();
    let sel = format!("{{job=\"node\",stack={}}}", crate::alerts::q(&stack.name));
    rule(
        "CertificateExpiresSoon",
        format!(
            "min by (instance, purpose, file) (rampart_tls_cert_not_after_timestamp_seconds{sel}) - time() < {}",
            u64::from(days) * 86_400
        ),
        "1h",
        "warning",
        format!("{{{{ $labels.file }}}} ({{{{ $labels.purpose }}}}) on {{{{ $labels.instance }}}} expires within {days} days: run `rampart plan` and `rampart apply` to renew it"),
    );
    rule(
        "CertificateExpiresVerySoon",
        format!(
            "min by (instance, purpose, file) (rampart_tls_cert_not_after_timestamp_seconds{sel}) - time() < {}",
            7 * 86_400
        ),
        "10m",
        "critical",
        "{{ $labels.file }} ({{ $labels.purpose }}) on {{ $labels.instance }} expires within 7 days".into(),
    );
}
