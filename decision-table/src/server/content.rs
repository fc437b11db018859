//! What the server serves: files, items and the manifest, pure functions of the seed. The
//! tests compute the digests a correct client must print from these same functions.

use super::ServeArgs;
use scenarios::digest::sha256_hex;
use scenarios::rng::SplitMix64;
use scenarios::wire::{About, FileEntry, Item, Manifest};

/// The name of file `i` in the manifest and on disk.
pub fn file_name(i: usize) -> String {
    format!("file-{i:05}.bin")
}

/// The bytes of file `index`, produced piece by piece: any split of the reads gives the same
/// bytes, so the server can stream a file it never holds whole.
#[derive(Clone, Debug)]
pub struct FileStream {
    rng: SplitMix64,
    left: u64,
    spare: [u8; 8],
    spare_len: usize,
}

impl FileStream {
    pub fn new(seed: u64, index: u64, size: u64) -> Self {
        Self {
            rng: SplitMix64::for_item(seed, index),
            left: size,
            spare: [0; 8],
            spare_len: 0,
        }
    }

    /// Bytes not produced yet.
    pub fn remaining(&self) -> u64 {
        self.left
    }

    /// The next `n` bytes (fewer at the end of the file).
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.left as usize);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.spare_len == 0 {
                self.spare = self.rng.next_u64().to_le_bytes();
                self.spare_len = 8;
            }
            let from = 8 - self.spare_len;
            let k = self.spare_len.min(n - out.len());
            out.extend_from_slice(&self.spare[from..from + k]);
            self.spare_len -= k;
        }
        self.left -= n as u64;
        out
    }
}

/// The whole of file `index`.
pub fn file_bytes(seed: u64, index: u64, size: u64) -> Vec<u8> {
    FileStream::new(seed, index, size).take(size as usize)
}

const ITEM_SALT: u64 = 0x1735_0000_17E3_5A17;
const TAGS: [&str; 8] = [
    "cake", "oven", "queue", "thread", "process", "task", "socket", "lock",
];

/// Item `id` of stream `seed`.
pub fn item(seed: u64, id: u64) -> Item {
    let mut r = SplitMix64::for_item(seed ^ ITEM_SALT, id);
    let value = r.below(1000);
    let tags = (0..1 + r.below(3))
        .map(|_| TAGS[r.below(TAGS.len() as u64) as usize].to_string())
        .collect();
    Item {
        id,
        name: format!("item-{id}"),
        value,
        tags,
    }
}

pub(super) fn about(args: &ServeArgs) -> About {
    About {
        server: "decision-table serve".into(),
        files: args.files,
        size: args.size,
        latency_ms: args.latency_ms,
        bandwidth: args.bandwidth,
        fault_rate: args.fault_rate,
    }
}

/// The manifest a server with these knobs serves (every file is hashed, so this takes a moment
/// for many large files).
pub fn manifest(args: &ServeArgs) -> Manifest {
    let files = (0..args.files)
        .map(|i| FileEntry {
            name: file_name(i),
            path: format!("/files/{i}"),
            size: args.size,
            sha256: sha256_hex(&file_bytes(args.seed, i as u64, args.size)),
        })
        .collect();
    Manifest {
        about: about(args),
        files,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stream_gives_the_same_bytes_however_it_is_read() {
        let whole = file_bytes(7, 3, 1001);
        assert_eq!(whole.len(), 1001);
        for step in [1, 3, 8, 13, 64, 5000] {
            let mut s = FileStream::new(7, 3, 1001);
            let mut got = Vec::new();
            while s.remaining() > 0 {
                got.extend(s.take(step));
            }
            assert_eq!(got, whole, "read {step} bytes at a time");
        }
        assert_ne!(file_bytes(7, 4, 1001), whole);
        assert_ne!(file_bytes(8, 3, 1001), whole);
        assert!(file_bytes(7, 3, 0).is_empty());
    }

    #[test]
    fn items_are_deterministic_and_small() {
        assert_eq!(item(1, 5), item(1, 5));
        assert_ne!(item(1, 5), item(2, 5));
        let it = item(1, 5);
        assert_eq!(it.id, 5);
        assert!(it.value < 1000);
        assert!((1..=3).contains(&it.tags.len()));
        assert!(serde_json::to_vec(&it).unwrap().len() < 200);
    }

    #[test]
    fn manifest_hashes_the_files() {
        let args = ServeArgs {
            files: 3,
            size: 100,
            ..ServeArgs::default()
        };
        let m = manifest(&args);
        assert_eq!(m.files.len(), 3);
        assert_eq!(m.files[2].name, "file-00002.bin");
        assert_eq!(m.files[2].path, "/files/2");
        assert_eq!(m.files[2].sha256, sha256_hex(&file_bytes(42, 2, 100)));
    }
}
