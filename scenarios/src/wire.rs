//! What the HTTP server and its clients say to each other: the JSON documents of `/`,
//! `/manifest` and `/api/items/{i}`. The server (`decision-table serve`) makes them up from a
//! seed; the clients of the `downloads` and `requests` scenarios parse and check them.

use serde::{Deserialize, Serialize};

/// The largest file the server makes up: 1 GiB.
pub const MAX_SIZE: u64 = 1 << 30;

/// One file as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The file's name on disk: letters, digits, `.`, `_` and `-` only.
    pub name: String,
    /// Where to GET it, relative to the server's root (`/files/3`).
    pub path: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the content.
    pub sha256: String,
}

/// What `/` says about the server: enough for a client to work out the ideal time of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct About {
    pub server: String,
    pub files: usize,
    pub size: u64,
    pub latency_ms: u64,
    /// Bytes per second per response; 0 for unlimited.
    pub bandwidth: u64,
    pub fault_rate: f64,
}

/// `/manifest`: the files to download.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub about: About,
    pub files: Vec<FileEntry>,
}

/// `/api/items/{i}`: one small document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: u64,
    pub name: String,
    /// The field the `requests` scenario adds up: 0 to 999.
    pub value: u64,
    pub tags: Vec<String>,
}
