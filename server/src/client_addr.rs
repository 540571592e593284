//! [`ClientAddr`]: the address a request came from, for login throttling
//! and the feedback form's rate limit.
//!
//! It is the TCP peer, unless the peer is one of the configured trusted
//! proxies (`--trusted-proxies`): then `X-Forwarded-For` is read from the
//! right (each proxy appends the address it received the request from),
//! skipping trusted proxies, and the first address that is not one is the
//! client. A client cannot choose its own address by sending the header:
//! from an untrusted peer it is ignored, and behind a trusted proxy the
//! entries the client wrote sit left of the one the proxy appended.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::app::AppState;

pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address (`0.0.0.0` when served without connect info, as in
/// `oneshot` tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The key rate limits count by: the address itself, except that an
    /// IPv6 client is its /64 (one host usually holds a whole /64, so
    /// counting single addresses would count nothing).
    pub fn limit_key(self) -> IpAddr {
        match self.0 {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            v4 => v4,
        }
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        Ok(ClientAddr(client_addr(
            peer,
            &parts.headers,
            &state.settings.trusted_proxies,
        )))
    }
}

/// The client's address given the TCP peer, the headers and the trusted proxies.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(&ip));
    let mut addr = peer.to_canonical();
    if !is_trusted(addr) {
        return addr;
    }
    // Several headers are one list, in order.
    let hops: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop.trim()) else {
            // Not an address: nothing left of it can be trusted either.
            return addr;
        };
        addr = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    addr
}

/// An address as proxies write it: `1.2.3.4`, `2001:db8::1`, and the
/// occasional `1.2.3.4:5678` or `[2001:db8::1]:5678`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

/// Parses `--trusted-proxies` entries: an address or a network in CIDR form.
pub fn parse_trusted(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is neither an IP address nor a network like 10.0.0.0/8"))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy() {
        let proxies = [
            parse_trusted("10.0.0.0/8").unwrap(),
            parse_trusted("192.0.2.1").unwrap(),
        ];
        let h = xff(&["203.0.113.9"]);
        // An untrusted peer cannot claim an address.
        assert_eq!(
            client_addr(ip("198.51.100.4"), &h, &proxies),
            ip("198.51.100.4")
        );
        assert_eq!(client_addr(ip("198.51.100.4"), &h, &[]), ip("198.51.100.4"));
        // Behind a trusted proxy the header names the client.
        assert_eq!(client_addr(ip("10.1.2.3"), &h, &proxies), ip("203.0.113.9"));
        // No header: the proxy is all we know.
        assert_eq!(
            client_addr(ip("10.1.2.3"), &xff(&[]), &proxies),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies = [
            parse_trusted("10.0.0.0/8").unwrap(),
            parse_trusted("192.0.2.1").unwrap(),
        ];
        // The client wrote "1.1.1.1" itself; our two proxies appended the rest.
        let h = xff(&["1.1.1.1, 203.0.113.9", "192.0.2.1"]);
        assert_eq!(client_addr(ip("10.0.0.2"), &h, &proxies), ip("203.0.113.9"));
        // Garbage stops the walk at the last trusted hop.
        let h = xff(&["203.0.113.9, not-an-ip"]);
        assert_eq!(client_addr(ip("10.0.0.2"), &h, &proxies), ip("10.0.0.2"));
        // Ports and brackets, and IPv4-mapped IPv6 peers.
        let h = xff(&["[2001:db8::7]:4711"]);
        assert_eq!(
            client_addr(ip("::ffff:10.0.0.2"), &h, &proxies),
            ip("2001:db8::7")
        );
        let h = xff(&["203.0.113.9:80"]);
        assert_eq!(client_addr(ip("10.0.0.2"), &h, &proxies), ip("203.0.113.9"));
        // Every hop trusted: the leftmost.
        let h = xff(&["10.9.9.9"]);
        assert_eq!(client_addr(ip("10.0.0.2"), &h, &proxies), ip("10.9.9.9"));
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let a = ClientAddr(ip("2001:db8:1:2:aaaa::1")).limit_key();
        let b = ClientAddr(ip("2001:db8:1:2:bbbb::9")).limit_key();
        assert_eq!(a, b);
        assert_ne!(a, ClientAddr(ip("2001:db8:1:3::1")).limit_key());
        assert_eq!(ClientAddr(ip("203.0.113.9")).limit_key(), ip("203.0.113.9"));
        assert!(parse_trusted("nonsense").is_err());
    }
}
