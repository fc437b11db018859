//! The checks both clients share: HTTP statuses, network errors as one readable line, and the
//! documents the server sends (`/`, `/manifest`, `/api/items/{i}`), refused before anything is
//! fetched when they could do harm (a file name that leaves the output folder, say).

use super::retry::Failure;

/// The most a client reads into memory for `/` or `/manifest`: a manifest of the server's
/// 100,000 files at most is about 18 MiB. A server that sends more (or never stops) is refused
/// at this many bytes, not read until memory runs out.
pub const MAX_DOCUMENT: u64 = 64 << 20;
/// The most a client reads into memory for one `/api/items/{i}` (they are about 100 bytes).
pub const MAX_ITEM: u64 = 64 << 10;

/// The error for a body over `limit`.
pub fn too_large(url: &str, limit: u64) -> String {
    let limit = if limit >= 1 << 20 {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{} KiB", limit >> 10)
    };
    format!("{url} sent a body over the {limit} this client reads into memory; refused")
}
use crate::wire::{About, Item, MAX_SIZE, Manifest};
use anyhow::{Context, Result, bail};
use std::collections::HashSet;

/// Is this status a success, worth a retry, or final?
pub fn check_status(status: reqwest::StatusCode) -> Result<(), Failure> {
    if status.is_success() {
        Ok(())
    } else if status.is_server_error()
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
    {
        Err(Failure::Retry(format!("HTTP {status}")))
    } else {
        Err(Failure::Final(format!("HTTP {status}")))
    }
}

/// The innermost cause of an error: "Connection refused (os error 111)", not "error sending
/// request".
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// A network error as one readable line, and always worth a retry: the server may be back.
pub fn network(e: &reqwest::Error, timeout_ms: u64) -> Failure {
    let what = if e.is_timeout() {
        format!("timed out after {timeout_ms} ms")
    } else if e.is_connect() {
        return Failure::Connect(format!("cannot connect: {}", root_cause(e)));
    } else if e.is_body() || e.is_decode() {
        format!("the body broke off: {}", root_cause(e))
    } else {
        format!("{e}: {}", root_cause(e))
    };
    Failure::Retry(what)
}

/// The error for a first request that failed: the server is not there, or not ours.
pub fn unreachable(url: &str, e: &reqwest::Error) -> anyhow::Error {
    if e.is_connect() {
        anyhow::anyhow!(
            "cannot connect to {url}: {}; is `decision-table serve` running there?",
            root_cause(e)
        )
    } else if e.is_timeout() {
        anyhow::anyhow!("{url} did not answer in time; is it a `decision-table serve`?")
    } else if let Some(status) = e.status() {
        anyhow::anyhow!("{url} answered HTTP {status}; is it a `decision-table serve`?")
    } else {
        anyhow::anyhow!("{url}: {e}: {}", root_cause(e))
    }
}

/// Parse and check `/`.
pub fn parse_about(url: &str, body: &[u8]) -> Result<About> {
    serde_json::from_slice(body)
        .with_context(|| format!("{url} did not describe itself as a `decision-table serve`"))
}

fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Parse and check `/manifest`. A name that could leave the output directory (`../x`, `/etc`),
/// a duplicate name, a bad checksum or an absurd size is refused before anything is fetched.
pub fn parse_manifest(url: &str, body: &[u8]) -> Result<Manifest> {
    let manifest: Manifest =
        serde_json::from_slice(body).with_context(|| format!("{url} is not a valid manifest"))?;
    let mut names = HashSet::new();
    for f in &manifest.files {
        if !safe_name(&f.name) {
            bail!(
                "the manifest at {url} names a file {:?}: only letters, digits, '.', '_' and '-' \
                 are accepted, not starting with '.'",
                f.name
            );
        }
        if !names.insert(f.name.as_str()) {
            bail!("the manifest at {url} lists {:?} twice", f.name);
        }
        if !f.path.starts_with('/') {
            bail!(
                "the manifest at {url} gives {:?} a path {:?} not starting with '/'",
                f.name,
                f.path
            );
        }
        if f.size > MAX_SIZE {
            bail!(
                "the manifest at {url} says {:?} has {} bytes, over the 1 GiB limit",
                f.name,
                f.size
            );
        }
        if f.sha256.len() != 64 || !f.sha256.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            bail!(
                "the manifest at {url} gives {:?} a SHA-256 that is not 64 hex digits",
                f.name
            );
        }
    }
    Ok(manifest)
}

/// Parse one `/api/items/{id}` body.
pub fn parse_item(id: u64, body: &[u8]) -> Result<u64, Failure> {
    let item: Item = serde_json::from_slice(body)
        .map_err(|e| Failure::Retry(format!("not an item document: {e}")))?;
    if item.id != id {
        return Err(Failure::Final(format!(
            "asked for item {id}, got item {}",
            item.id
        )));
    }
    Ok(item.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{About, FileEntry};

    fn manifest_json(edit: impl FnOnce(&mut Manifest)) -> Vec<u8> {
        let files = (0..3)
            .map(|i| FileEntry {
                name: format!("file-{i}.bin"),
                path: format!("/files/{i}"),
                size: 10,
                sha256: crate::digest::sha256_hex(&[i as u8; 10]),
            })
            .collect();
        let about = About {
            server: "test".into(),
            files: 3,
            size: 10,
            latency_ms: 0,
            bandwidth: 0,
            fault_rate: 0.0,
        };
        let mut m = Manifest { about, files };
        edit(&mut m);
        serde_json::to_vec(&m).unwrap()
    }

    #[test]
    fn statuses_are_classified() {
        use reqwest::StatusCode as S;
        assert!(check_status(S::OK).is_ok());
        assert!(matches!(
            check_status(S::INTERNAL_SERVER_ERROR),
            Err(Failure::Retry(_))
        ));
        assert!(matches!(
            check_status(S::SERVICE_UNAVAILABLE),
            Err(Failure::Retry(_))
        ));
        assert!(matches!(check_status(S::NOT_FOUND), Err(Failure::Final(_))));
    }

    #[test]
    fn a_good_manifest_parses() {
        let m = parse_manifest("u", &manifest_json(|_| {})).unwrap();
        assert_eq!(m.files.len(), 3);
        assert_eq!(m.about.size, 10);
    }

    #[test]
    fn a_bad_manifest_is_refused_before_anything_is_fetched() {
        let err = |edit: fn(&mut Manifest)| {
            parse_manifest("http://x/manifest", &manifest_json(edit))
                .unwrap_err()
                .to_string()
        };
        assert!(err(|m| m.files[0].name = "../../etc/passwd".into()).contains("only letters"));
        assert!(err(|m| m.files[0].name = ".hidden".into()).contains("not starting with '.'"));
        assert!(err(|m| m.files[0].name = "".into()).contains("only letters"));
        assert!(err(|m| m.files[1].name = m.files[0].name.clone()).contains("twice"));
        assert!(err(|m| m.files[0].sha256 = "abc".into()).contains("64 hex"));
        assert!(err(|m| m.files[0].path = "files/0".into()).contains("'/'"));
        assert!(err(|m| m.files[0].size = MAX_SIZE + 1).contains("1 GiB"));
        let junk = parse_manifest("http://x/manifest", b"<html>").unwrap_err();
        assert!(format!("{junk:#}").contains("not a valid manifest"));
    }

    #[test]
    fn items_parse_and_are_checked() {
        let item = Item {
            id: 7,
            name: "item-7".into(),
            value: 321,
            tags: vec!["cake".into()],
        };
        let body = serde_json::to_vec(&item).unwrap();
        assert_eq!(parse_item(7, &body), Ok(321));
        assert!(matches!(parse_item(8, &body), Err(Failure::Final(_))));
        assert!(matches!(parse_item(7, &body[..5]), Err(Failure::Retry(_))));
    }
}
