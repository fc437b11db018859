//! Reading hyperfine's JSON export, in both of its layouts.
//!
//! hyperfine 1.x writes `{"results": [...]}` and puts the `-n` name in `command`; 2.0 adds
//! `schema_version` and `metadata` beside the results and keeps the name in `command_name`,
//! the command line in `command`. Only the fields the report uses are read, so either layout
//! (and fields a later version adds) parse the same way.

use anyhow::{Context, Result};
use serde_json::Value;

/// One benchmark of a hyperfine export: one model or variant of one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Bench {
    pub name: String,
    pub command: String,
    pub mean: f64,
    pub stddev: f64,
    pub min: f64,
    pub max: f64,
    /// Mean CPU seconds (user + system) per run, children included (hyperfine measures the
    /// whole process tree it waits for).
    pub cpu: f64,
    /// The two parts of `cpu`: user and system (kernel) seconds per run.
    pub user: f64,
    pub system: f64,
    pub runs: usize,
}

#[cfg(test)]
impl Bench {
    /// For tests: `runs` runs of `mean` seconds each, no spread, all of it user CPU.
    pub fn fixed(name: &str, mean: f64, runs: usize) -> Bench {
        Bench {
            name: name.into(),
            command: name.into(),
            mean,
            stddev: 0.0,
            min: mean,
            max: mean,
            cpu: mean,
            user: mean,
            system: 0.0,
            runs,
        }
    }
}

/// Read a hyperfine JSON export, either layout.
pub fn parse(text: &str) -> Result<Vec<Bench>> {
    let doc: Value = serde_json::from_str(text).context("not JSON")?;
    let results = doc
        .get("results")
        .and_then(Value::as_array)
        .context("no \"results\" array: not a hyperfine export")?;
    results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let num = |key: &str| r.get(key).and_then(Value::as_f64);
            let command = r
                .get("command")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let name = r
                .get("command_name")
                .or_else(|| r.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| command.clone());
            let mean = num("mean").with_context(|| format!("result {i} ({name}) has no mean"))?;
            let runs = r.get("times").and_then(Value::as_array).map_or(0, Vec::len);
            let (user, system) = (num("user").unwrap_or(0.0), num("system").unwrap_or(0.0));
            Ok(Bench {
                name,
                command,
                mean,
                // A single run has no standard deviation (hyperfine writes null).
                stddev: num("stddev").unwrap_or(0.0),
                min: num("min").unwrap_or(mean),
                max: num("max").unwrap_or(mean),
                cpu: user + system,
                user,
                system,
                runs,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"results":[
      {"command":"serial","mean":2.0,"stddev":0.01,"median":2.0,"user":1.9,"system":0.1,"min":1.99,"max":2.01,"times":[1.99,2.0,2.01],"exit_codes":[0,0,0]},
      {"command":"threading","mean":1.0,"stddev":null,"median":1.0,"user":1.9,"system":0.1,"min":1.0,"max":1.0,"times":[1.0],"exit_codes":[0]}]}"#;

    const V2: &str = r#"{"schema_version":"2.0","metadata":{"hyperfine_version":"2.0.0"},"results":[
      {"command_name":"serial","command":"./serial x","mean":2.0,"stddev":0.01,"user":1.9,"system":0.1,"min":1.99,"max":2.01,"times":[1.99,2.0,2.01]}]}"#;

    #[test]
    fn reads_both_layouts() {
        let v1 = parse(V1).unwrap();
        assert_eq!(v1.len(), 2);
        assert_eq!(v1[1].name, "threading");
        assert_eq!(v1[1].stddev, 0.0);
        assert_eq!(v1[0].runs, 3);
        assert!((v1[0].cpu - 2.0).abs() < 1e-9);
        assert_eq!((v1[0].user, v1[0].system), (1.9, 0.1));
        let v2 = parse(V2).unwrap();
        assert_eq!(v2[0].name, "serial");
        assert_eq!(v2[0].command, "./serial x");
    }

    #[test]
    fn refuses_what_is_not_an_export() {
        assert!(parse("[]").is_err());
        assert!(parse("{\"results\":[{\"command\":\"x\"}]}").is_err());
        assert!(parse("nope").is_err());
    }
}
