//! The chat server's line reader (`scenarios::chat::read_line`) and the load client's parser
//! of what a server says (`scenarios::chat::parse_incoming`): whatever a client or a server
//! sends, lines come out bounded (over 8 KiB is refused, not buffered) and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scenarios::chat::{Line, MAX_LINE, parse_incoming, read_line};

fuzz_target!(|data: &[u8]| {
    // A small buffer, so lines are split across reads as they are on a socket.
    let mut reader = std::io::BufReader::with_capacity(7, data);
    let mut buf = Vec::new();
    loop {
        match read_line(&mut reader, &mut buf) {
            Ok(Line::Text(text)) => {
                assert!(text.len() <= MAX_LINE);
                let _ = parse_incoming(&text);
            }
            Ok(Line::TooLong | Line::NotUtf8) => continue,
            Ok(Line::End | Line::EndMidLine) | Err(_) => break,
        }
    }
});
