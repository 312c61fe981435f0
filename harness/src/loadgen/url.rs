//! Driving any HTTP server with the load generator, no deployment (`spright-bench load`): used to
//! compare the generator with wrk against one server (`scripts/loadgen-vs-wrk.sh`).

use super::{LoadResult, LoadSpec, Progress};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::AtomicBool;
use workloads::LoadProfile;

#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("--url {0:?}: must start with http:// (https is not supported)")]
    Scheme(String),
    #[error("--url {url:?}: cannot resolve {host}: {source}")]
    Resolve { url: String, host: String, source: std::io::Error },
    #[error("--url {0:?}: the host has no address")]
    NoAddress(String),
    #[error("--url {0:?}: the path has a space or a control character (write it percent-encoded: %20)")]
    Path(String),
    #[error("--header {0:?}: expected 'Name: value' (a token, a colon, a value without line breaks)")]
    Header(String),
}

/// A `Name: value` header from the command line.
pub fn parse_header(s: &str) -> Result<(String, String), UrlError> {
    let bad = || UrlError::Header(s.to_string());
    let (name, value) = s.split_once(':').ok_or_else(bad)?;
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) || value.contains(['\r', '\n']) {
        return Err(bad());
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// An `http://HOST:PORT/PATH?QUERY#FRAGMENT` target: its address, `Host` header and the
/// request target (path and query; a fragment is never sent, as browsers and curl do).
pub fn parse(url: &str) -> Result<(SocketAddr, String, String), UrlError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| UrlError::Scheme(url.into()))?;
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (hostport, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let path = match path.starts_with('/') {
        true => path.to_string(),
        false => format!("/{path}"),
    };
    if path.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(UrlError::Path(url.into()));
    }
    let with_port = if hostport.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|source| UrlError::Resolve { url: url.into(), host: hostport.into(), source })?
        .next()
        .ok_or_else(|| UrlError::NoAddress(url.into()))?;
    Ok((addr, hostport.to_string(), path))
}

/// Send `method` requests with a `body_bytes` body and `headers` (`Name: value`; a `Host` header
/// replaces the URL's, for servers that route by host, as the Knative model's ingress does) to
/// `url` under `profile`, on the calling thread, until the profile's duration is over or `stop`
/// is set.
pub fn drive(
    url: &str,
    method: &str,
    headers: &[String],
    body_bytes: usize,
    profile: LoadProfile,
    threads: usize,
    stop: &std::sync::Arc<AtomicBool>,
) -> Result<LoadResult, Box<dyn std::error::Error + Send + Sync>> {
    let (target, mut host, path) = parse(url)?;
    let mut extra = Vec::new();
    for h in headers {
        let (name, value) = parse_header(h)?;
        if name.eq_ignore_ascii_case("host") {
            host = value;
        } else {
            extra.push((name, value));
        }
    }
    let spec = LoadSpec {
        cpus: None,
        target,
        host,
        headers: extra,
        method: method.to_string(),
        routes: vec![(1, "url".into(), path, vec![b'x'; body_bytes])],
        mix: None,
        profile,
        users: None,
        sources: Vec::new(),
        close_idle: false,
    };
    let (generator, _) = super::spawn(spec, threads, stop.clone(), std::sync::Arc::new(Progress::default()))?;
    Ok(generator.join()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_or_refused_clearly() {
        let (addr, host, path) = parse("http://127.0.0.1:8080/a/b?c").unwrap();
        assert_eq!(
            (addr.to_string(), host.as_str(), path.as_str()),
            ("127.0.0.1:8080".into(), "127.0.0.1:8080", "/a/b?c")
        );
        assert_eq!(parse("http://127.0.0.1").unwrap().0.port(), 80);
        assert_eq!(parse("http://127.0.0.1:9").unwrap().2, "/");
        assert_eq!(parse("http://127.0.0.1:9?q=1").unwrap().1, "127.0.0.1:9");
        assert_eq!(parse("http://127.0.0.1:9?q=1").unwrap().2, "/?q=1");
        assert_eq!(parse("http://127.0.0.1:9/a#top").unwrap().2, "/a");
        assert_eq!(parse("http://127.0.0.1:9#top").unwrap().2, "/");
        for bad in ["http://127.0.0.1:9/a b", "http://127.0.0.1:9/a\tb", "http://127.0.0.1:9/a\r\nX: 1"] {
            assert!(matches!(parse(bad), Err(UrlError::Path(_))), "{bad:?}");
        }
        assert!(matches!(parse("https://127.0.0.1/"), Err(UrlError::Scheme(_))));
        assert!(matches!(parse("127.0.0.1:80"), Err(UrlError::Scheme(_))));
        assert!(matches!(parse("http://no such host/"), Err(UrlError::Resolve { .. })));
        assert_eq!(parse_header("Host: a.example.com").unwrap(), ("Host".into(), "a.example.com".into()));
        assert_eq!(parse_header("X-User:7").unwrap(), ("X-User".into(), "7".into()));
        for bad in ["NoColon", ": v", "Bad Name: v", "X: a\r\nInjected: 1"] {
            assert!(matches!(parse_header(bad), Err(UrlError::Header(_))), "{bad:?}");
        }
    }
}
