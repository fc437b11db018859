//! The chapter's decision table, in our own words: which job, which model it recommends, why,
//! and which scenario of this workspace measures it (if any does yet). After its ten rows comes
//! the chapter's rule for mixed work (a process pool and a thread pool), measured by `pipeline`.
//!
//! The recommendation is data (a list of [`Model`]s), not prose: the report judges a row by
//! asking whether the measured winner is one of them, and a sentence to search would let a
//! rewording change a verdict.

use std::fmt;

/// The chapter's four concurrency models, one crate each in this workspace (and one
/// `--model` each in the Python package).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Model {
    Serial,
    Threading,
    Multiprocessing,
    Asyncio,
}

impl Model {
    pub const ALL: [Model; 4] = [
        Model::Serial,
        Model::Threading,
        Model::Multiprocessing,
        Model::Asyncio,
    ];

    /// The name the chapter, the crates and the summaries' `model` field use.
    pub fn name(self) -> &'static str {
        match self {
            Model::Serial => "serial",
            Model::Threading => "threading",
            Model::Multiprocessing => "multiprocessing",
            Model::Asyncio => "asyncio",
        }
    }

    /// The model called `name`, if it is one of the four.
    pub fn from_name(name: &str) -> Option<Model> {
        Model::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One row of the chapter's table.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// The job, as the chapter lists it.
    pub job: &'static str,
    /// The models the chapter recommends: one, or two when it says "X or Y".
    pub chapter_choice: &'static [Model],
    /// The chapter's reason, paraphrased.
    pub why: &'static str,
    /// The scenario of this workspace that measures the row, if one does.
    pub scenario: Option<&'static str>,
    /// Which of the scenario's rows answer for this job (bigfile answers two jobs: its warm
    /// rows one, its `-cold` rows the other).
    pub pick: Pick,
}

/// Which of a scenario's timed rows a row of the table is judged on, by their names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// Every row.
    All,
    /// The rows whose names do not end with this suffix.
    Without(&'static str),
    /// Only the rows whose names end with this suffix.
    With(&'static str),
}

impl Pick {
    /// Is the row named `name` one this pick judges?
    pub fn takes(self, name: &str) -> bool {
        match self {
            Pick::All => true,
            Pick::Without(suffix) => !name.ends_with(suffix),
            Pick::With(suffix) => name.ends_with(suffix),
        }
    }

    /// The suffix the picked rows' names carry (so the serial row of a `With` pick is
    /// `serial<suffix>`).
    pub fn suffix(self) -> &'static str {
        match self {
            Pick::With(suffix) => suffix,
            _ => "",
        }
    }
}

impl Row {
    /// The chapter's choice as the chapter words it: "asyncio", "asyncio or threading".
    pub fn chapter_choice_text(&self) -> String {
        let names: Vec<&str> = self.chapter_choice.iter().map(|m| m.name()).collect();
        names.join(" or ")
    }

    /// Does the chapter recommend `model` for this job?
    pub fn recommends(&self, model: Model) -> bool {
        self.chapter_choice.contains(&model)
    }
}

/// The chapter's ten rows, in its order, then its rule for mixed workloads.
pub const ROWS: [Row; 12] = [
    Row {
        job: "Many HTTP requests",
        chapter_choice: &[Model::Asyncio],
        why: "waiting on the network; scales to many connections",
        scenario: Some("requests"),
        pick: Pick::All,
    },
    // The chapter's "large files" row, measured twice: its claim (CPU-bound, needs real
    // parallelism) holds only while the file sits in the page cache; read from the disk, the
    // disk may set the pace instead. bigfile times `<model>` (warm) and `<model>-cold` rows.
    Row {
        job: "Processing large files (warm cache)",
        chapter_choice: &[Model::Multiprocessing],
        why: "CPU-bound; needs real parallelism",
        scenario: Some("bigfile"),
        pick: Pick::Without("-cold"),
    },
    Row {
        job: "Processing large files (cold cache)",
        chapter_choice: &[Model::Multiprocessing],
        why: "CPU-bound; needs real parallelism",
        scenario: Some("bigfile"),
        pick: Pick::With("-cold"),
    },
    Row {
        job: "Downloading files",
        chapter_choice: &[Model::Threading],
        why: "waiting on the network; simple to write",
        scenario: Some("downloads"),
        pick: Pick::All,
    },
    Row {
        job: "Responsive GUI",
        chapter_choice: &[Model::Threading],
        why: "keep the interface from freezing",
        scenario: Some("gui"),
        pick: Pick::All,
    },
    Row {
        job: "Image processing",
        chapter_choice: &[Model::Multiprocessing],
        why: "CPU-bound; gets around the GIL",
        scenario: Some("images"),
        pick: Pick::All,
    },
    Row {
        job: "Web scraping",
        chapter_choice: &[Model::Asyncio, Model::Threading],
        why: "waiting on the network; depends on the library",
        scenario: Some("crawl"),
        pick: Pick::All,
    },
    Row {
        job: "Machine-learning training",
        chapter_choice: &[Model::Multiprocessing],
        why: "CPU-bound; use every core",
        scenario: Some("train"),
        pick: Pick::All,
    },
    Row {
        job: "Chat server",
        chapter_choice: &[Model::Asyncio],
        why: "waiting on sockets; thousands of connections",
        scenario: Some("chat"),
        pick: Pick::All,
    },
    Row {
        job: "Mathematical computation",
        chapter_choice: &[Model::Multiprocessing],
        why: "CPU-bound; parallel work",
        scenario: Some("matrix"),
        pick: Pick::All,
    },
    Row {
        job: "Database reads and writes",
        chapter_choice: &[Model::Asyncio],
        why: "waiting on the database; many at once",
        scenario: Some("db"),
        pick: Pick::All,
    },
    // Not one of the ten rows: the rule under the table ("mixed workload -> ProcessPoolExecutor
    // + ThreadPoolExecutor"), whose combination the multiprocessing model runs.
    Row {
        job: "mixed I/O + CPU (the chapter's rule)",
        chapter_choice: &[Model::Multiprocessing],
        why: "process pool + thread pool",
        scenario: Some("pipeline"),
        pick: Pick::All,
    },
];

/// The table as Markdown.
pub fn render() -> String {
    let mut s = String::from(
        "The chapter's decision table (which model for which job):\n\n\
         | job | chapter's choice | why | measured by |\n| --- | --- | --- | --- |\n",
    );
    for r in ROWS {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            r.job,
            r.chapter_choice_text(),
            r.why,
            r.scenario.unwrap_or("not covered yet")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_row() {
        let t = render();
        assert_eq!(t.lines().filter(|l| l.starts_with("| ")).count(), 14);
        assert!(t.contains(
            "| mixed I/O + CPU (the chapter's rule) | multiprocessing | process pool + thread pool \
             | pipeline |"
        ));
    }

    #[test]
    fn a_choice_of_two_models_reads_as_the_chapter_words_it() {
        let scraping = ROWS.iter().find(|r| r.job == "Web scraping").unwrap();
        assert_eq!(scraping.chapter_choice_text(), "asyncio or threading");
        assert!(scraping.recommends(Model::Threading) && scraping.recommends(Model::Asyncio));
        assert!(!scraping.recommends(Model::Multiprocessing));
        assert!(render().contains("| Web scraping | asyncio or threading |"));
    }

    #[test]
    fn model_names_round_trip() {
        for m in Model::ALL {
            assert_eq!(Model::from_name(m.name()), Some(m));
        }
        assert_eq!(Model::from_name("rayon"), None);
    }
}
