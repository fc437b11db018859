//! The bigfile line parser (`scenarios::bigfile::read::Scanner`, its fast path and its rule
//! book): any bytes, fed whole and fed in two pieces split where the first input byte says.
//! Both must find the same stations and counts, and agree line by line with the rule book
//! (`parse::diagnose`) applied to each line on its own: the fast path may only take a line the
//! rule book accepts, and a line split across pieces must be judged as if it were whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scenarios::bigfile::parse::{MAX_LINE, diagnose};
use scenarios::bigfile::read::{Scanned, Scanner};

fn scan(pieces: &[&[u8]]) -> Option<Scanned> {
    let mut s = Scanner::new(0, true);
    for p in pieces {
        // Only "too many stations" is an error with --keep-going.
        s.feed(p).ok()?;
    }
    s.finish(true).ok()
}

fuzz_target!(|input: &[u8]| {
    let Some((&cut, data)) = input.split_first() else {
        return;
    };
    let at = data.len() * cut as usize / 255;
    let whole = scan(&[data]);
    let split = scan(&[&data[..at], &data[at..]]);
    let (Some(whole), Some(split)) = (whole, split) else {
        // Then both must have refused (the table's station limit).
        assert!(scan(&[data]).is_none() && scan(&[&data[..at], &data[at..]]).is_none());
        return;
    };
    assert_eq!((whole.rows, whole.malformed), (split.rows, split.malformed));
    // The rule book, line by line; a last line without a newline is malformed.
    let (mut good, mut bad) = (0u64, 0u64);
    let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let last = lines.pop().unwrap_or_default();
    for line in lines {
        let head = &line[..line.len().min(MAX_LINE + 1)];
        match diagnose(head, line.len()) {
            Ok(_) => good += 1,
            Err(_) => bad += 1,
        }
    }
    if !last.is_empty() {
        bad += 1;
    }
    assert_eq!((whole.rows, whole.malformed), (good, bad));
    assert_eq!(whole.table.into_sorted(), split.table.into_sorted());
});
