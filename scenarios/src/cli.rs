//! Arguments shared by every crate, so the same scenario takes the same flags everywhere.
//!
//! Every limit here exists to turn bad input into a clear message instead of a panic, a hang
//! or an hour-long run: `--workers 0`, `--bake-ms -5` and `--sleep-ms 99999999` are refused by
//! the parser with the flag's name in the error.

use clap::Args;

/// The longest duration any flag accepts: ten minutes.
pub const MAX_MS: u64 = 600_000;

/// Flags every subcommand understands.
#[derive(Args, Debug, Clone, Default)]
pub struct Common {
    /// Print exactly one JSON summary on stdout (the output contract); human lines go to stderr
    #[arg(long, global = true)]
    pub json: bool,
}

/// A duration in milliseconds, 0 to 10 minutes.
pub fn millis(s: &str) -> Result<u64, String> {
    let v: i128 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number of milliseconds"))?;
    if v < 0 {
        return Err(format!("a duration cannot be negative (got {v} ms)"));
    }
    if v > MAX_MS as i128 {
        return Err(format!(
            "{v} ms is more than the {MAX_MS} ms (10 minutes) this accepts"
        ));
    }
    Ok(v as u64)
}

/// A count within `min..=max`, with a message that names the limits.
pub fn bounded(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let v: i128 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number"))?;
    if v < min as i128 || v > max as i128 {
        return Err(format!("{v} is out of range: use {min} to {max}"));
    }
    Ok(v as u64)
}

/// Worker counts: at least one, at most 10,000 (threads, processes or tasks doing the work).
pub fn workers(s: &str) -> Result<usize, String> {
    bounded(s, 1, 10_000).map(|v| v as usize)
}

/// The number of CPU cores this process may use: the default `--workers` of CPU-bound runs.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cake_count(s: &str) -> Result<usize, String> {
    bounded(s, 1, 64).map(|v| v as usize)
}

fn item_count(s: &str) -> Result<usize, String> {
    bounded(s, 1, 10_000_000).map(|v| v as usize)
}

fn capacity(s: &str) -> Result<usize, String> {
    bounded(s, 1, 1_000_000).map(|v| v as usize)
}

/// `cakes`: the chapter's two cakes.
#[derive(Args, Debug, Clone)]
pub struct CakesArgs {
    /// How many cakes to bake
    #[arg(long, default_value_t = 2, value_parser = cake_count, allow_negative_numbers = true)]
    pub cakes: usize,
    /// How long each cake bakes, in milliseconds
    #[arg(long, default_value_t = 1000, value_parser = millis, allow_negative_numbers = true)]
    pub bake_ms: u64,
}

impl Default for CakesArgs {
    fn default() -> Self {
        Self {
            cakes: 2,
            bake_ms: 1000,
        }
    }
}

/// `workers`: the chapter's five workers that each wait.
#[derive(Args, Debug, Clone)]
pub struct WorkersArgs {
    /// How many workers to start
    #[arg(long, default_value_t = 5, value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,
    /// How long each worker waits, in milliseconds
    #[arg(long, default_value_t = 2000, value_parser = millis, allow_negative_numbers = true)]
    pub sleep_ms: u64,
}

impl Default for WorkersArgs {
    fn default() -> Self {
        Self {
            workers: 5,
            sleep_ms: 2000,
        }
    }
}

/// `queue`: one producer, several consumers, every item consumed exactly once.
#[derive(Args, Debug, Clone)]
pub struct QueueArgs {
    /// How many items the producer puts on the queue
    #[arg(long, default_value_t = 10_000, value_parser = item_count, allow_negative_numbers = true)]
    pub items: usize,
    /// How many consumers take items off the queue
    #[arg(long, default_value_t = 2, value_parser = workers, allow_negative_numbers = true)]
    pub workers: usize,
    /// How many items the queue holds before the producer has to wait
    #[arg(long, default_value_t = 64, value_parser = capacity, allow_negative_numbers = true)]
    pub capacity: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_limits() {
        assert_eq!(millis("0"), Ok(0));
        assert_eq!(millis("1500"), Ok(1500));
        assert!(millis("-5").unwrap_err().contains("negative"));
        assert!(millis("600001").unwrap_err().contains("10 minutes"));
        assert!(millis("abc").unwrap_err().contains("not a whole number"));
        assert!(millis("99999999999999999999999999").is_err());
    }

    #[test]
    fn worker_limits() {
        assert!(workers("0").unwrap_err().contains("1 to 10000"));
        assert_eq!(workers("4"), Ok(4));
        assert!(workers("-1").is_err());
    }
}
