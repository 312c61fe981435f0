//! Knative service names and hosts for a chain, shared by the local model, the generated
//! manifests and `knative-remote`, so the same Host headers work against all three.
//!
//! Services are `fn<id>-<chain>-<function>` and `gw-<chain>` (the chain's HTTP entry), made
//! into DNS-1035 labels (lower case, `[a-z0-9-]`, at most 63 characters; the id comes first so
//! truncation never makes two names equal). Hosts are `<service>.<namespace>.<domain>`, Knative's
//! default domain template.

use workloads::{Chain, Function};

pub const NAMESPACE: &str = "spright";
/// Knative's default external domain.
pub const DOMAIN: &str = "example.com";

fn dns_label(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).take(63).collect();
    while out.ends_with('-') {
        out.pop();
    }
    out
}

pub fn function_service(chain: &Chain, f: &Function) -> String {
    dns_label(&format!("fn{}-{}-{}", f.id, chain.name, f.name))
}

pub fn gateway_service(chain: &Chain) -> String {
    dns_label(&format!("gw-{}", chain.name))
}

pub fn host(service: &str, namespace: &str, domain: &str) -> String {
    format!("{service}.{namespace}.{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_dns_1035() {
        assert_eq!(dns_label("fn1-Synthetic_5-f1"), "fn1-synthetic-5-f1");
        let long = dns_label(&format!("fn12-{}", "x".repeat(100)));
        assert_eq!(long.len(), 63);
        assert!(long.starts_with("fn12-"));
        assert_eq!(dns_label("gw-a-"), "gw-a");
    }
}
