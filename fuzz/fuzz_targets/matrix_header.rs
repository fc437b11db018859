//! The matrix file header (`scenarios::matrix::file::parse_header`): the first bytes of a file
//! and the file's size (taken from the input's last 8 bytes). It accepts a header only when the
//! size is exactly what the header promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scenarios::matrix::file::{HEADER_LEN, parse_header};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (head, size) = data.split_at(data.len() - 8);
    let size = u64::from_le_bytes(size.try_into().expect("8 bytes"));
    if let Ok(h) = parse_header(head, size, "fuzz.mat") {
        assert_eq!(HEADER_LEN + (h.rows * h.cols * 8) as u64, size);
    }
});
