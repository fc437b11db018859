//! Which requests go wrong, and how: a pure function of the seed, the path and the attempt.

use scenarios::rng::{SplitMix64, mix};
use serde::{Deserialize, Serialize};

/// One way a response goes wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize)]
pub enum FaultKind {
    /// HTTP 500 Internal Server Error
    #[value(name = "500")]
    Status500,
    /// The full Content-Length is promised, half the body is sent, then the connection closes
    Short,
    /// Half the body is sent, then nothing for --stall-ms (past any sensible client timeout)
    Stall,
}

impl FaultKind {
    pub const ALL: [FaultKind; 3] = [FaultKind::Status500, FaultKind::Short, FaultKind::Stall];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Status500 => "HTTP 500",
            FaultKind::Short => "body cut short",
            FaultKind::Stall => "stall",
        }
    }
}

const FAULT_SALT: u64 = 0xFA17_0000_0BAD_F00D;

fn path_key(path: &str) -> u64 {
    path.bytes()
        .fold(0xCBF2_9CE4_8422_2325, |h, b| mix(h ^ u64::from(b)))
}

/// Whether the request number `attempt` (0 for the first) for `path` goes wrong, and how.
///
/// Pure: the same seed, path and attempt always give the same answer, which is what lets a test
/// predict every fault of a run, and a client's retry (a later attempt) get a fresh draw. With
/// `rate` 1 every attempt fails; `kind` forces the kind of fault, otherwise the seed picks one.
pub fn fault_for(
    seed: u64,
    path: &str,
    attempt: u64,
    rate: f64,
    kind: Option<FaultKind>,
) -> Option<FaultKind> {
    if rate <= 0.0 {
        return None;
    }
    let mut r = SplitMix64::for_item(seed ^ FAULT_SALT ^ path_key(path), attempt);
    if r.next_f64() >= rate {
        return None;
    }
    Some(kind.unwrap_or(FaultKind::ALL[r.below(3) as usize]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_follow_the_rate_and_are_deterministic() {
        let n = 20_000;
        let count = |rate| {
            (0..n)
                .filter(|i| fault_for(1, &format!("/files/{i}"), 0, rate, None).is_some())
                .count()
        };
        assert_eq!(count(0.0), 0);
        assert_eq!(count(1.0), n);
        let tenth = count(0.1);
        assert!((1700..2300).contains(&tenth), "{tenth} of {n} at rate 0.1");
        for i in 0..100 {
            let p = format!("/api/items/{i}");
            assert_eq!(
                fault_for(9, &p, 2, 0.3, None),
                fault_for(9, &p, 2, 0.3, None)
            );
        }
    }

    #[test]
    fn a_retry_gets_a_fresh_draw() {
        // At rate 0.5 some path that fails its first attempt passes its second.
        let recovers = (0..100).any(|i| {
            let p = format!("/files/{i}");
            fault_for(3, &p, 0, 0.5, None).is_some() && fault_for(3, &p, 1, 0.5, None).is_none()
        });
        assert!(recovers);
    }

    #[test]
    fn every_kind_is_drawn_and_a_forced_kind_is_obeyed() {
        let kinds: std::collections::HashSet<_> = (0..300)
            .filter_map(|i| fault_for(5, &format!("/files/{i}"), 0, 1.0, None))
            .collect();
        assert_eq!(kinds.len(), 3);
        for k in FaultKind::ALL {
            assert!((0..50).all(|i| fault_for(5, &format!("/x/{i}"), i, 1.0, Some(k)) == Some(k)));
        }
    }
}
