//! The documents a client takes from the HTTP server (`scenarios::fetch::checks`): `/`,
//! `/manifest` and `/api/items/{i}`. A manifest that parses must name only safe files (no path
//! out of the output folder), each once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scenarios::fetch::checks::{parse_about, parse_item, parse_manifest};

fuzz_target!(|data: &[u8]| {
    let _ = parse_about("http://fuzz", data);
    let _ = parse_item(7, data);
    if let Ok(m) = parse_manifest("http://fuzz/manifest", data) {
        let mut names = std::collections::HashSet::new();
        for f in &m.files {
            assert!(
                !f.name.contains('/') && !f.name.starts_with('.'),
                "{:?}",
                f.name
            );
            assert!(names.insert(f.name.clone()), "{:?} twice", f.name);
        }
    }
});
