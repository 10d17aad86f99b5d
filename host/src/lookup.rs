//! Name lookups under the host's network policy: a guest-chosen name never reaches the
//! system's resolver (and through it the network) unless the command line allowed any address.
//!
//! wasmtime-wasi resolves every name a guest asks for with the system resolver, and its
//! address check does not apply to lookups: a guest could make the host send a name carrying
//! data (`<secret>.attacker.example`) to a DNS server outside the machine even though the
//! connection it pretends to want is refused. Under the loopback-only policy the host therefore
//! resolves only names that stay on the machine: IP literals, `localhost` and `*.localhost`,
//! and names listed in `/etc/hosts`. Any other name fails with `name-unresolvable` at once,
//! and the refusal is logged. With `-S inherit-network` (any address) every name is resolved,
//! as `wasmtime run -S inherit-network,allow-ip-name-lookup` does; with
//! `-S allow-ip-name-lookup=n` none is.
//!
//! Both `wasi:sockets/ip-name-lookup` interfaces are replaced in the linker (shadowing
//! wasmtime-wasi's): WASI 0.2's `resolve-addresses` delegates an allowed name to
//! wasmtime-wasi's own implementation, and WASI 0.3's resolves it itself.

use std::net::IpAddr;

use wasmtime::Result;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    Host as P2LookupHost, ResolveAddressStream,
};
use wasmtime_wasi::p2::bindings::sockets::network::{
    ErrorCode as P2ErrorCode, Host as P2NetworkHost, Network,
};
use wasmtime_wasi::p3::bindings::sockets::ip_name_lookup::ErrorCode as P3ErrorCode;
use wasmtime_wasi::p3::bindings::sockets::types::IpAddress as P3IpAddress;
use wasmtime_wasi::sockets::WasiSocketsView;

use crate::State;
use crate::policy::Network as Policy;

/// The WASI 0.2 interface as wasmtime-wasi 48 defines it (it serves every 0.2.x import).
const P2_LOOKUP: &str = "wasi:sockets/ip-name-lookup@0.2.12";
/// The WASI 0.3 interface.
const P3_LOOKUP: &str = "wasi:sockets/ip-name-lookup@0.3.0";

/// What the policy says about resolving `name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Resolve it (an IP literal, a local name, or any name when any address is allowed).
    Resolve,
    /// Lookups are off (`-S allow-ip-name-lookup=n`).
    Off,
    /// Refused: it could leave the machine.
    NotLocal,
}

/// Whether a guest under `policy` may have `name` resolved.
pub fn verdict(policy: &Policy, name: &str) -> Verdict {
    if !policy.ip_name_lookup {
        return Verdict::Off;
    }
    if policy.any_address || is_literal(name) || is_local_name(name, &hosts_names()) {
        Verdict::Resolve
    } else {
        Verdict::NotLocal
    }
}

fn is_literal(name: &str) -> bool {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok()
}

/// `localhost`, a name under `.localhost` (RFC 6761: always loopback), or a name `/etc/hosts`
/// lists (`hosts`), compared without case and without a trailing dot.
pub fn is_local_name(name: &str, hosts: &[String]) -> bool {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    n == "localhost" || n.ends_with(".localhost") || hosts.contains(&n)
}

/// The host names `/etc/hosts` lists (lower case), read at each lookup (it is small, and an
/// edit takes effect at once).
fn hosts_names() -> Vec<String> {
    std::fs::read_to_string("/etc/hosts")
        .map(|text| parse_hosts(&text))
        .unwrap_or_default()
}

/// The names of a hosts file: every field after the address on each line, comments removed.
pub fn parse_hosts(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split_whitespace().skip(1))
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
        .collect()
}

fn log_refusal(name: &str) {
    tracing::warn!(
        target: "wasio_host::sandbox",
        "refused a name lookup of {name:?}: under the loopback-only network policy only IP \
         literals, localhost and names in /etc/hosts are resolved (`-S inherit-network` allows \
         any name)"
    );
}

/// Replaces wasmtime-wasi's `resolve-addresses` (WASI 0.2 and 0.3) with the policy's.
pub fn add_to_linker(linker: &mut Linker<State>) -> Result<()> {
    linker.allow_shadowing(true);
    linker.instance(P2_LOOKUP)?.func_wrap(
        "resolve-addresses",
        |mut store, (network, name): (Resource<Network>, String)| {
            let state = store.data_mut();
            let out: Result<Resource<ResolveAddressStream>, P2ErrorCode> =
                match verdict(&state.network, &name) {
                    Verdict::NotLocal => {
                        log_refusal(&name);
                        Err(P2ErrorCode::NameUnresolvable)
                    }
                    Verdict::Resolve | Verdict::Off => {
                        let mut view = state.sockets();
                        match P2LookupHost::resolve_addresses(&mut view, network, name) {
                            Ok(stream) => Ok(stream),
                            Err(e) => Err(P2NetworkHost::convert_error_code(&mut view, e)?),
                        }
                    }
                };
            Ok((out,))
        },
    )?;
    linker.instance(P3_LOOKUP)?.func_wrap_concurrent(
        "resolve-addresses",
        |accessor, (name,): (String,)| {
            Box::pin(async move {
                let policy = accessor.with(|mut access| access.get().network);
                let out = match verdict(&policy, &name) {
                    Verdict::Off => Err(P3ErrorCode::PermanentResolverFailure),
                    Verdict::NotLocal => {
                        log_refusal(&name);
                        Err(P3ErrorCode::NameUnresolvable)
                    }
                    Verdict::Resolve => resolve(&name).await,
                };
                Ok((out,))
            })
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// Resolves an allowed name with the system resolver (WASI 0.3).
async fn resolve(name: &str) -> Result<Vec<P3IpAddress>, P3ErrorCode> {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![ip.into()]);
    }
    if name.is_empty() || name.len() > 253 || name.contains(['/', ' ', ':']) {
        return Err(P3ErrorCode::InvalidArgument);
    }
    match tokio::net::lookup_host((name, 0)).await {
        Ok(addrs) => Ok(addrs.map(|a| a.ip().to_canonical().into()).collect()),
        Err(_) => Err(P3ErrorCode::NameUnresolvable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_names_resolve_under_the_loopback_policy() {
        let hosts = parse_hosts("127.0.0.1 localhost\n::1 ip6-localhost # c\n10.0.0.5 db.lan db\n");
        assert_eq!(hosts, ["localhost", "ip6-localhost", "db.lan", "db"]);
        for local in ["localhost", "LOCALHOST.", "a.b.localhost", "db", "DB.LAN"] {
            assert!(is_local_name(local, &hosts), "{local}");
        }
        for outside in [
            "c2VjcmV0.exfil.example.com",
            "example.invalid",
            "localhost.com",
        ] {
            assert!(!is_local_name(outside, &hosts), "{outside}");
        }
        let strict = Policy::default();
        assert_eq!(verdict(&strict, "127.0.0.1"), Verdict::Resolve);
        assert_eq!(verdict(&strict, "::1"), Verdict::Resolve);
        assert_eq!(verdict(&strict, "localhost"), Verdict::Resolve);
        assert_eq!(verdict(&strict, "x.exfil.example.com"), Verdict::NotLocal);
        let open = Policy {
            any_address: true,
            ..Policy::default()
        };
        assert_eq!(verdict(&open, "x.exfil.example.com"), Verdict::Resolve);
        let off = Policy {
            ip_name_lookup: false,
            ..Policy::default()
        };
        assert_eq!(verdict(&off, "localhost"), Verdict::Off);
    }
}
