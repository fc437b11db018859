//! The frame reader (`scenarios::frame::read_frame`), as a parent reads a child's replies: any
//! bytes, read frame after frame until the stream ends or breaks. It must never panic, hang or
//! allocate more than the bytes given (plus its small preallocation).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scenarios::frame::read_frame;

fuzz_target!(|data: &[u8]| {
    let mut stream = data;
    while let Ok(Some(frame)) = read_frame(&mut stream) {
        assert!(frame.len() <= data.len());
    }
});
