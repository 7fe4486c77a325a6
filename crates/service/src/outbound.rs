//! The guard on every request this server makes on a user's behalf (identity-provider
//! metadata today; webhooks and OIDC discovery must use it too): only HTTP(S), and never to an
//! address inside the server's own networks unless the operator allowed it.
//!
//! The check is made on the address actually connected to: names are resolved by a reqwest
//! DNS resolver that drops refused addresses (so a name cannot resolve to a public address
//! when checked and a private one when connected: no DNS rebinding), address literals are
//! checked before the request and on every redirect hop, and no proxy from the environment is
//! used. Refused by default: loopback, private (RFC 1918, IPv6 unique local), link-local,
//! CGNAT, multicast, unspecified, broadcast and other reserved ranges, IPv4 and IPv6 alike,
//! including IPv4 embedded in IPv6 (mapped, NAT64, 6to4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Hosts and networks the operator allows although they are internal (`outbound_allow`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    hosts: Vec<String>,
    nets: Vec<IpNet>,
}

/// Why an outbound request was refused before anything was sent to the target.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OutboundRefused {
    #[error("only http and https URLs are fetched")]
    Scheme,
    #[error("the URL's host is an address this server does not connect to")]
    Address,
    #[error("the URL's host resolves only to addresses this server does not connect to")]
    ResolvedAddress,
}

impl OutboundPolicy {
    /// Parses the operator's list: IP addresses, CIDR networks (`10.0.0.0/8`, `::1/128`) or
    /// host names (matched exactly, case-insensitively).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut policy = Self::default();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if let Ok(net) = entry.parse::<IpNet>() {
                policy.nets.push(net);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                policy.nets.push(IpNet::from(ip));
            } else if is_host_name(entry) {
                policy.hosts.push(entry.to_ascii_lowercase());
            } else {
                return Err(format!(
                    "`{entry}` is neither an IP address, a CIDR network nor a host name"
                ));
            }
        }
        Ok(policy)
    }

    /// The entries, as the operator's configuration would list them.
    pub fn entries(&self) -> Vec<String> {
        self.nets
            .iter()
            .map(ToString::to_string)
            .chain(self.hosts.iter().cloned())
            .collect()
    }

    /// Whether the server may connect to `ip` (reached through host `name`, if any).
    pub fn allows(&self, name: Option<&str>, ip: IpAddr) -> bool {
        is_public(ip)
            || self.nets.iter().any(|net| net.contains(&ip))
            || name.is_some_and(|n| self.hosts.iter().any(|h| h.eq_ignore_ascii_case(n)))
    }

    /// Checks what can be checked from a URL alone: the scheme, and a host that is an address
    /// literal (names are checked when resolved).
    pub fn check_url(&self, url: &Url) -> Result<(), OutboundRefused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(OutboundRefused::Scheme);
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain(_)) => return Ok(()),
            None => return Err(OutboundRefused::Address),
        };
        if self.allows(None, ip) {
            Ok(())
        } else {
            Err(OutboundRefused::Address)
        }
    }

    /// An HTTP client that connects only where this policy allows: every name resolved
    /// through the guard, no proxy, at most `max_redirects` redirects, each checked like the
    /// first URL (a refused hop fails the request with [`OutboundRefused`] in its chain).
    pub fn client(
        &self,
        timeout: Duration,
        max_redirects: usize,
    ) -> reqwest::Result<reqwest::Client> {
        let policy = self.clone();
        reqwest::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(self.clone())))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if let Err(refused) = policy.check_url(attempt.url()) {
                    attempt.error(refused)
                } else if attempt.previous().len() > max_redirects {
                    attempt.error(TooManyRedirects(max_redirects))
                } else {
                    attempt.follow()
                }
            }))
            .build()
    }
}

/// A redirect chain longer than the caller allows.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("the URL redirected more than {0} times")]
pub struct TooManyRedirects(pub usize);

fn is_host_name(entry: &str) -> bool {
    !entry.is_empty()
        && entry.len() <= 253
        && entry
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63)
        && entry
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// Resolves names with the system resolver and keeps only the addresses the policy allows.
struct GuardedResolver(OutboundPolicy);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> = resolved
                .filter(|addr| policy.allows(Some(&host), addr.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(OutboundRefused::ResolvedAddress) as _);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Whether `ip` is a public unicast address (not in any range the guard refuses).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", unspecified
        || a == 10 // private
        || (a == 100 && (64..128).contains(&b)) // CGNAT
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local
        || (a == 172 && (16..32).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    let embedded_v4 =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    match segments {
        // Unspecified, loopback and the deprecated IPv4-compatible range.
        [0, 0, 0, 0, 0, 0, _, _] => false,
        // NAT64: the IPv4 address it stands for decides.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => is_public_v4(embedded_v4(hi, lo)),
        // 6to4: likewise.
        [0x2002, hi, lo, ..] => is_public_v4(embedded_v4(hi, lo)),
        // Documentation, Teredo (tunnels to arbitrary IPv4), ORCHID.
        [0x2001, 0x0db8, ..] | [0x2001, 0, ..] | [0x2001, 0x10..=0x2f, ..] => false,
        [first, ..] => {
            !((first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (first & 0xff00) == 0xff00) // multicast
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges_are_refused_and_public_ones_allowed() {
        for refused in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = refused.parse().unwrap();
            assert!(!is_public(ip), "{refused} must be refused");
            assert!(!OutboundPolicy::default().allows(None, ip), "{refused}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            let ip: IpAddr = public.parse().unwrap();
            assert!(is_public(ip), "{public} is public");
        }
    }

    #[test]
    fn the_operator_allows_listed_networks_and_names_only() {
        let policy = OutboundPolicy::parse(&["127.0.0.1", "10.0.0.0/8", "IdP.Internal"]).unwrap();
        assert!(policy.allows(None, "127.0.0.1".parse().unwrap()));
        assert!(!policy.allows(None, "127.0.0.2".parse().unwrap()));
        assert!(policy.allows(None, "10.9.9.9".parse().unwrap()));
        assert!(!policy.allows(None, "192.168.0.1".parse().unwrap()));
        assert!(policy.allows(Some("idp.internal"), "192.168.0.1".parse().unwrap()));
        assert!(OutboundPolicy::parse(&["not a host!"]).is_err());
        assert_eq!(
            policy.entries(),
            vec!["127.0.0.1/32", "10.0.0.0/8", "idp.internal"]
        );
    }

    #[test]
    fn address_literals_in_every_spelling_are_checked_from_the_url() {
        let policy = OutboundPolicy::default();
        for url in [
            "http://127.0.0.1:8080/metadata",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://example.com@127.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "https://169.254.169.254/latest/meta-data/",
        ] {
            let parsed = Url::parse(url).unwrap();
            assert_eq!(
                policy.check_url(&parsed),
                Err(OutboundRefused::Address),
                "{url}"
            );
        }
        let file = Url::parse("file:///etc/passwd").unwrap();
        assert_eq!(policy.check_url(&file), Err(OutboundRefused::Scheme));
        let named = Url::parse("https://idp.example.com/metadata").unwrap();
        assert_eq!(policy.check_url(&named), Ok(()));
    }
}
