//! The rules of one line, and the table the lines are added to: the hot loop of `bigfile`.
//!
//! A valid line is `station;temperature\n`: the station is 1 to 100 bytes of UTF-8 without `;`
//! (the part before the first `;`), the temperature `-?D{1,2}.D` in ASCII digits (one decimal
//! digit, so -99.9 to 99.9). A line is never longer than [`MAX_LINE`] bytes without its `\n`.
//! [`diagnose`] is the rule book: it says what is wrong with a line, first rule first, and the
//! Python twin (`python/chapter/bigfile.py`) applies the same rules in the same order, so both
//! languages refuse the same lines with the same reasons.
//!
//! What keeps the loop fast, and what each choice buys:
//! - **integer tenths**: a temperature is parsed straight into an `i16` number of tenths, the
//!   sums are `i64`: no float parsing, no rounding until the mean is printed, and every model
//!   (and Python, whose `int` is exact) adds up to the very same numbers in any order;
//! - **the temperature is read from the end of the line** ([`split_fast`]): it is 3 to 5 bytes
//!   just before the `\n`, so a few byte compares find both it and the `;`, without scanning the
//!   station for the separator;
//! - **the table validates once per station**: a line whose station is already a key is known
//!   good (only checked stations become keys), so the UTF-8, length and `;` checks run once per
//!   distinct station, not once per row; every other line goes through [`diagnose`];
//! - **a fast hash map**: hashbrown's `HashTable` (the table inside std's `HashMap`) hashed
//!   with foldhash's `fast::RandomState` instead of the default SipHash. Station names are
//!   short (about eight bytes), and SipHash's per-call set-up dominates on keys that short;
//!   foldhash is several times faster there, is what hashbrown itself defaults to, and is still
//!   seeded per process, so a file crafted to make every station collide cannot turn the table
//!   into a list (FxHash, the other obvious choice, has no seed). `HashTable` rather than
//!   `HashMap` because the key is ours ([`words`]): a name of up to 16 bytes is compared and
//!   hashed as two words held in the entry, where a map of boxed names calls `memcmp` through
//!   a pointer for every row. Lookups borrow the line's bytes, so only a new station allocates.
//! - the line ends themselves are found by `memchr` (see `read.rs`): SIMD over the buffer.

use foldhash::fast::RandomState;
use hashbrown::HashTable;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::BuildHasher;

/// The longest station name, in bytes.
pub const MAX_STATION: usize = 100;
/// The longest temperature, `-99.9`.
pub const MAX_TEMPERATURE: usize = 5;
/// The longest valid line, without its newline.
pub const MAX_LINE: usize = MAX_STATION + 1 + MAX_TEMPERATURE;
/// At most this many distinct stations (the challenge's own limit): the table's memory is
/// bounded whatever the file holds.
pub const MAX_STATIONS: usize = 10_000;

/// What one station saw, in tenths of a degree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub min: i16,
    pub max: i16,
    pub sum: i64,
    pub count: u64,
}

impl Stats {
    fn new(t: i16) -> Stats {
        Stats {
            min: t,
            max: t,
            sum: t as i64,
            count: 1,
        }
    }

    #[inline(always)]
    fn add(&mut self, t: i16) {
        self.min = self.min.min(t);
        self.max = self.max.max(t);
        self.sum += t as i64;
        self.count += 1;
    }

    /// Fold another part of the file's figures for the same station into these.
    pub fn merge(&mut self, other: &Stats) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
    }

    /// The mean in tenths, rounded half away from zero: `round(sum / count)` computed in
    /// integers as `(2|sum| + count) div (2 count)`, with the sign of the sum. Python computes
    /// exactly this (`(2 * abs(s) + c) // (2 * c)`), so the printed means agree to the digit.
    pub fn mean_tenths(&self) -> i64 {
        mean_tenths(self.sum, self.count)
    }
}

/// See [`Stats::mean_tenths`].
pub fn mean_tenths(sum: i64, count: u64) -> i64 {
    let (s, c) = (sum as i128, count.max(1) as i128);
    let q = (2 * s.abs() + c) / (2 * c);
    (if s < 0 { -q } else { q }) as i64
}

/// Tenths as the file writes them: `-3.5`, `0.0`, `12.0`.
pub fn format_tenths(t: i64) -> String {
    let sign = if t < 0 { "-" } else { "" };
    format!("{sign}{}.{}", t.unsigned_abs() / 10, t.unsigned_abs() % 10)
}

/// Why a line is not valid, in the order [`diagnose`] checks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Why {
    /// No `;` at all (in a line of at most 100 bytes).
    NoSemicolon,
    /// No `;` in the first 101 bytes: the station would be longer than 100.
    StationTooLong,
    EmptyStation,
    StationNotUtf8,
    /// What follows the first `;` is not `-?D{1,2}.D`.
    BadTemperature,
    /// The file's last line has no `\n`: it may have been cut short.
    NoFinalNewline,
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Why::NoSemicolon => "no ';' between a station and a temperature",
            Why::StationTooLong => "the station name is longer than 100 bytes",
            Why::EmptyStation => "the station name is empty",
            Why::StationNotUtf8 => "the station name is not UTF-8",
            Why::BadTemperature => {
                "the temperature is not -?D{1,2}.D (one or two digits, a point, one digit)"
            }
            Why::NoFinalNewline => {
                "the file does not end in a newline (its last line may be cut short)"
            }
        })
    }
}

/// A malformed line: where it starts, why it is wrong, and its first bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadLine {
    /// Byte offset of the line's first byte in the file.
    pub offset: u64,
    /// The line's length without its newline.
    pub len: u64,
    pub why: Why,
    /// At most [`MAX_LINE`] + 1 bytes of the line, as read.
    pub head: Vec<u8>,
}

impl BadLine {
    pub fn new(offset: u64, head: &[u8], len: u64, why: Why) -> BadLine {
        BadLine {
            offset,
            len,
            why,
            head: head[..head.len().min(MAX_LINE + 1)].to_vec(),
        }
    }

    /// The line as a quoted string a person can read (escaped; cut with `...` if long).
    pub fn quoted(&self) -> String {
        let text = String::from_utf8_lossy(&self.head);
        if self.len as usize > self.head.len() {
            format!("{text:?}... ({} bytes)", self.len)
        } else {
            format!("{text:?}")
        }
    }
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: {}: {}", self.offset, self.why, self.quoted())
    }
}

impl std::error::Error for BadLine {}

/// The temperature in tenths, if `t` is exactly `-?D{1,2}.D`.
pub fn parse_temperature(t: &[u8]) -> Option<i16> {
    let (negative, digits) = match t.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, t),
    };
    let digit = |b: u8| b.is_ascii_digit().then(|| (b - b'0') as i16);
    let v = match *digits {
        [a, b'.', c] => digit(a)? * 10 + digit(c)?,
        [a, b, b'.', c] => digit(a)? * 100 + digit(b)? * 10 + digit(c)?,
        _ => return None,
    };
    Some(if negative { -v } else { v })
}

/// The rule book. `head` is the line, or its first [`MAX_LINE`] + 1 bytes when it is longer;
/// `len` its whole length (without the newline). Returns the station and the tenths, or why
/// the line is not valid: the first of no `;` (station too long, if the line is), an empty
/// station, a station that is not UTF-8, a temperature that is not `-?D{1,2}.D`.
pub fn diagnose(head: &[u8], len: usize) -> Result<(&[u8], i16), Why> {
    let window = &head[..head.len().min(MAX_STATION + 1)];
    let Some(p) = memchr::memchr(b';', window) else {
        return Err(if len > MAX_STATION {
            Why::StationTooLong
        } else {
            Why::NoSemicolon
        });
    };
    let station = &head[..p];
    if station.is_empty() {
        return Err(Why::EmptyStation);
    }
    if std::str::from_utf8(station).is_err() {
        return Err(Why::StationNotUtf8);
    }
    // A line longer than MAX_LINE has a temperature longer than 5 bytes: never valid.
    if len > MAX_LINE {
        return Err(Why::BadTemperature);
    }
    match parse_temperature(&head[p + 1..len]) {
        Some(t) => Ok((station, t)),
        None => Err(Why::BadTemperature),
    }
}

/// The fast path: the temperature from the end of the line, and what precedes its `;`. It
/// accepts only lines shaped `X;-?D{1,2}.D`, and says nothing about X: the caller trusts X only
/// if it is already a key of the table, and sends every other line to [`diagnose`]. (If X is
/// a key it has no `;`, so this `;` is the first one and the two functions agree.)
#[inline(always)]
pub fn split_fast(line: &[u8]) -> Option<(&[u8], i16)> {
    let n = line.len();
    if n < 5 {
        return None;
    }
    let units = line[n - 3].wrapping_sub(b'0');
    let tenths = line[n - 1].wrapping_sub(b'0');
    if units > 9 || tenths > 9 || line[n - 2] != b'.' {
        return None;
    }
    let mut v = units as i16 * 10 + tenths as i16;
    let mut i = n - 4;
    let tens = line[i].wrapping_sub(b'0');
    if tens <= 9 {
        v += tens as i16 * 100;
        i -= 1;
    }
    if line[i] == b'-' {
        if i == 0 {
            return None;
        }
        v = -v;
        i -= 1;
    }
    (line[i] == b';').then(|| (&line[..i], v))
}

/// One station of a [`Table`].
#[derive(Debug)]
struct Entry {
    /// The name's length and its [`words`]: for a name of at most 16 bytes, the name itself.
    len: usize,
    words: [u64; 2],
    name: Box<[u8]>,
    stats: Stats,
}

/// A name as two words, from at most four loads and without a loop: a name of 8 to 16 bytes
/// is its first and last 8 bytes (they overlap below 16), one of 4 to 7 its first and last 4,
/// a shorter one its bytes. With the length, the words *are* the name up to 16 bytes, so the
/// table compares two words in its own entry instead of following a pointer to call `memcmp`
/// (measured: a quarter of the loop's time went to `memcmp` on the boxed names), and hashes
/// two words instead of a byte string. Longer names also compare their bytes.
#[inline(always)]
fn words(s: &[u8]) -> [u64; 2] {
    let n = s.len();
    let word = |at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let half = |at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes")) as u64;
    if n >= 8 {
        [word(0), word(n - 8)]
    } else if n >= 4 {
        [half(0) | half(n - 4) << 32, 0]
    } else {
        [s.iter().rev().fold(0, |w, &b| w << 8 | b as u64), 0]
    }
}

/// Stations to figures, for one part of the file (one worker's range) or the whole of it.
#[derive(Debug, Default)]
pub struct Table {
    hasher: RandomState,
    entries: HashTable<Entry>,
}

impl Table {
    /// The entry of `station`, if it has one, and the hash and words to make one.
    #[inline(always)]
    fn find(&mut self, station: &[u8]) -> (Option<&mut Entry>, u64, [u64; 2]) {
        let (n, w) = (station.len(), words(station));
        let hash = self.hasher.hash_one((w, n));
        let eq = |e: &Entry| e.len == n && e.words == w && (n <= 16 || *e.name == *station);
        (self.entries.find_mut(hash, eq), hash, w)
    }
}

/// The table has more than [`MAX_STATIONS`] stations.
#[derive(Debug)]
pub struct TooManyStations;

impl fmt::Display for TooManyStations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "more than {MAX_STATIONS} distinct stations (the challenge's limit, which bounds the \
             memory a file can make this program use)"
        )
    }
}

impl std::error::Error for TooManyStations {}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    /// Add a line (without its newline) if it is one the fast path can vouch for: true if it
    /// was added. The caller sends every other line to [`Table::add_checked`].
    #[inline(always)]
    pub fn add_known(&mut self, line: &[u8]) -> bool {
        if let Some((station, t)) = split_fast(line)
            && let (Some(e), _, _) = self.find(station)
        {
            e.stats.add(t);
            return true;
        }
        false
    }

    /// Add a line by the rule book: `Ok(Err(why))` for a malformed line, `Err` for one station
    /// too many. `head` and `len` as for [`diagnose`].
    pub fn add_checked(
        &mut self,
        head: &[u8],
        len: usize,
    ) -> Result<Result<(), Why>, TooManyStations> {
        let (station, t) = match diagnose(head, len) {
            Ok(ok) => ok,
            Err(why) => return Ok(Err(why)),
        };
        match self.find(station) {
            (Some(e), _, _) => e.stats.add(t),
            (None, hash, words) => {
                if self.entries.len() >= MAX_STATIONS {
                    return Err(TooManyStations);
                }
                let entry = Entry {
                    len: station.len(),
                    words,
                    name: station.into(),
                    stats: Stats::new(t),
                };
                let hasher = &self.hasher;
                self.entries
                    .insert_unique(hash, entry, |e| hasher.hash_one((e.words, e.len)));
            }
        }
        Ok(Ok(()))
    }

    /// The stations and their figures, in byte order of the names (which, for UTF-8, is the
    /// order of their code points: Python sorts `bytes` the same way).
    pub fn into_sorted(self) -> Vec<(Vec<u8>, Stats)> {
        let mut v: Vec<(Vec<u8>, Stats)> = self
            .entries
            .into_iter()
            .map(|e| (e.name.into_vec(), e.stats))
            .collect();
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str) -> Result<(String, i16), Why> {
        diagnose(line.as_bytes(), line.len())
            .map(|(s, t)| (String::from_utf8(s.to_vec()).unwrap(), t))
    }

    #[test]
    fn valid_lines_and_their_tenths() {
        assert_eq!(check("Hamburg;12.0"), Ok(("Hamburg".into(), 120)));
        assert_eq!(check("a;-0.5"), Ok(("a".into(), -5)));
        assert_eq!(check("a;05.5"), Ok(("a".into(), 55)));
        assert_eq!(check("Zürich;-99.9"), Ok(("Zürich".into(), -999)));
        assert_eq!(check("St. John's;99.9"), Ok(("St. John's".into(), 999)));
        let hundred = "x".repeat(100);
        assert_eq!(check(&format!("{hundred};1.0")), Ok((hundred, 10)));
    }

    #[test]
    fn every_bad_line_kind_is_named() {
        assert_eq!(check("Hamburg12.0"), Err(Why::NoSemicolon));
        assert_eq!(check(""), Err(Why::NoSemicolon));
        assert_eq!(
            check(&format!("{};1.0", "x".repeat(101))),
            Err(Why::StationTooLong)
        );
        assert_eq!(check(&"x".repeat(300)), Err(Why::StationTooLong));
        assert_eq!(check(";1.0"), Err(Why::EmptyStation));
        assert_eq!(
            diagnose(b"\xff\xfe;1.0", 6).unwrap_err(),
            Why::StationNotUtf8
        );
        for t in [
            "12", "12.", "1.23", "123.4", "+1.0", "--1.0", "1,0", " 1.0", "1.0 ", "1.0\r", "",
            "a.b", "1;1.0", "٣.٣",
        ] {
            assert_eq!(check(&format!("a;{t}")), Err(Why::BadTemperature), "{t:?}");
        }
        // The first ';' separates: a station cannot contain one.
        assert_eq!(check("a;b;1.0"), Err(Why::BadTemperature));
        let long = format!("a;{}", "1".repeat(200));
        assert_eq!(
            diagnose(&long.as_bytes()[..MAX_LINE + 1], long.len()),
            Err(Why::BadTemperature)
        );
    }

    #[test]
    fn the_fast_path_agrees_with_the_rule_book_wherever_it_answers() {
        let lines = [
            "a;1.0",
            "a;12.0",
            "a;-1.0",
            "a;-12.0",
            "ab;99.9",
            "12.0",
            "112.0",
            "-12.0",
            ";1.0",
            ";12.0",
            "a;123.0",
            "a;--1.0",
            "a;b;1.0",
            "a;1.00",
            "a-1.0",
            "a;+1.0",
            "a;1.0;1.0",
            "a;-0.0",
        ];
        for line in lines {
            if let Some((station, t)) = split_fast(line.as_bytes()) {
                // The fast path never vouches for the station; where the rule book accepts the
                // line, they read the same station and temperature.
                if let Ok((s, t2)) = diagnose(line.as_bytes(), line.len()) {
                    assert_eq!((station, t), (s, t2), "{line}");
                }
            } else {
                assert!(
                    diagnose(line.as_bytes(), line.len()).is_err(),
                    "the fast path refused a valid line: {line}"
                );
            }
        }
        // A station that holds ';' is never a key, so its line goes to the rule book.
        let mut table = Table::new();
        assert!(!table.add_known(b"a;b;1.0"));
        assert_eq!(
            table.add_checked(b"a;b;1.0", 7).unwrap(),
            Err(Why::BadTemperature)
        );
        assert_eq!(table.add_checked(b"a;1.0", 5).unwrap(), Ok(()));
        assert!(table.add_known(b"a;-2.5"));
        assert!(!table.add_known(b"b;1.0"), "an unknown station is checked");
        assert_eq!(
            table.into_sorted(),
            [(
                b"a".to_vec(),
                Stats {
                    min: -25,
                    max: 10,
                    sum: -15,
                    count: 2
                }
            )]
        );
    }

    #[test]
    fn the_mean_rounds_half_away_from_zero() {
        assert_eq!(mean_tenths(5, 2), 3); // 2.5
        assert_eq!(mean_tenths(-5, 2), -3); // -2.5
        assert_eq!(mean_tenths(4, 3), 1); // 1.33
        assert_eq!(mean_tenths(5, 3), 2); // 1.67
        assert_eq!(mean_tenths(-4, 3), -1);
        assert_eq!(mean_tenths(0, 7), 0);
        assert_eq!(mean_tenths(-1, 3), 0); // -0.33 prints as 0.0, not -0.0
        assert_eq!(format_tenths(mean_tenths(-1, 3)), "0.0");
        assert_eq!(format_tenths(-35), "-3.5");
        assert_eq!(format_tenths(-5), "-0.5");
        assert_eq!(format_tenths(999), "99.9");
    }

    #[test]
    fn names_are_told_apart_at_every_length() {
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        let mut table = Table::new();
        // Every prefix of `base`, and each with one byte changed: all distinct stations.
        let mut names = Vec::new();
        for n in 1..40 {
            names.push(base[..n].to_vec());
            for i in 0..n {
                let mut b = base[..n].to_vec();
                b[i] ^= 1;
                names.push(b);
            }
        }
        names.sort();
        names.dedup();
        for name in &names {
            let mut line = name.clone();
            line.extend_from_slice(b";1.0");
            table.add_checked(&line, line.len()).unwrap().unwrap();
        }
        for name in &names {
            let mut line = name.clone();
            line.extend_from_slice(b";3.0");
            assert!(table.add_known(&line), "{name:?}");
        }
        let all = table.into_sorted();
        assert_eq!(all.len(), names.len());
        assert!(all.iter().all(|(_, s)| s.count == 2 && s.sum == 40));
    }

    #[test]
    fn the_table_holds_at_most_the_limit() {
        let mut table = Table::new();
        for i in 0..MAX_STATIONS {
            let line = format!("s{i};1.0");
            table
                .add_checked(line.as_bytes(), line.len())
                .unwrap()
                .unwrap();
        }
        assert!(table.add_checked(b"one more;1.0", 12).is_err());
        assert!(
            table.add_checked(b"s7;2.0", 6).is_ok(),
            "known stations still count"
        );
    }
}
