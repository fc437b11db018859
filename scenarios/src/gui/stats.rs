//! What the gui scenario reports: frame intervals and click-to-visible latencies, as summary
//! fields.
//!
//! - A frame interval is the time between the starts of two consecutive frames: what a person
//!   sees as the gap between two pictures. At 60 Hz it is 16.7 ms; a frozen interface shows one
//!   interval as long as the freeze.
//! - The figures (`frame_p50_ms`, `frame_p99_ms`, `frame_max_ms`, `frames_over_16ms`, frames
//!   over 16.7 ms, and `frames_over_100ms`) cover the intervals that overlap the job: from the
//!   frame that handled the start click to the one after the frame that saw the job end (for
//!   serial, the one long interval of the frame that ran it). Idle frames before and after
//!   would only dilute them. `frame_intervals_ms` keeps every interval
//!   of the session, with `job_started_s` and `job_ended_s` on the same clock, for the chart.
//! - A click's latency runs from the moment it was made (the press) to the end of the frame
//!   that first shows its effect (the count on screen): what a person waits for.

use serde_json::{Value, json};

/// One frame interval counts as late above this: one frame at 60 Hz.
pub const FRAME_BUDGET_MS: f64 = 1000.0 / 60.0;
/// And as a visible freeze above this (a tenth of a second).
pub const FREEZE_MS: f64 = 100.0;

/// The `q`-quantile (0..=1) of `values`, by the nearest-rank method; `None` when empty.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Intervals between consecutive frame starts, in ms.
pub fn intervals_ms(starts: &[f64]) -> Vec<f64> {
    starts.windows(2).map(|w| (w[1] - w[0]) * 1000.0).collect()
}

/// The summary fields of a session's frames: the intervals ending in `[from, to]` (seconds on
/// the frames' clock; the whole session when the job never started) and the whole series.
pub fn frame_fields(starts: &[f64], job: Option<(f64, f64)>) -> Vec<(&'static str, Value)> {
    let all = intervals_ms(starts);
    let during: Vec<f64> = match job {
        Some((from, to)) => starts
            .windows(2)
            .filter(|w| w[1] > from && w[0] < to)
            .map(|w| (w[1] - w[0]) * 1000.0)
            .collect(),
        None => all.clone(),
    };
    let q = |p: f64| quantile(&during, p).map_or(Value::Null, |v| json!(round1(v)));
    let series: Vec<f64> = all.iter().map(|v| round1(*v)).collect();
    vec![
        ("frames", json!(starts.len())),
        ("frames_during_job", json!(during.len())),
        ("frame_p50_ms", q(0.50)),
        ("frame_p99_ms", q(0.99)),
        ("frame_max_ms", q(1.0)),
        (
            "frames_over_16ms",
            json!(during.iter().filter(|v| **v > FRAME_BUDGET_MS).count()),
        ),
        (
            "frames_over_100ms",
            json!(during.iter().filter(|v| **v > FREEZE_MS).count()),
        ),
        (
            "first_frame_s",
            json!(starts.first().map_or(0.0, |s| round3(*s))),
        ),
        ("frame_intervals_ms", json!(series)),
    ]
}

/// The summary fields of the clicks' latencies, in ms.
pub fn click_fields(latencies_ms: &[f64], sent: usize) -> Vec<(&'static str, Value)> {
    let q = |p: f64| quantile(latencies_ms, p).map_or(Value::Null, |v| json!(round1(v)));
    vec![
        ("clicks_sent", json!(sent)),
        ("clicks_seen", json!(latencies_ms.len())),
        ("click_p50_ms", q(0.50)),
        ("click_p99_ms", q(0.99)),
        ("click_max_ms", q(1.0)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&v, 1.0), Some(100.0));
        assert_eq!(quantile(&[7.0], 0.5), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn a_freeze_shows_as_one_long_interval_during_the_job() {
        // 60 Hz, then a 2 s freeze between 1.0 and 3.0, then 60 Hz again.
        let mut starts: Vec<f64> = (0..=60).map(|i| i as f64 / 60.0).collect();
        starts.extend((0..=30).map(|i| 3.0 + i as f64 / 60.0));
        let fields: std::collections::HashMap<_, _> = frame_fields(&starts, Some((1.0, 3.0)))
            .into_iter()
            .collect();
        assert_eq!(fields["frames_over_100ms"], json!(1));
        assert_eq!(fields["frame_max_ms"], json!(2000.0));
        assert_eq!(fields["frames_during_job"], json!(1));
        assert_eq!(
            fields["frame_intervals_ms"].as_array().unwrap().len(),
            starts.len() - 1
        );
        // Without a job the whole session counts.
        let whole: std::collections::HashMap<_, _> =
            frame_fields(&starts, None).into_iter().collect();
        assert_eq!(whole["frame_p50_ms"], json!(16.7));
    }
}
