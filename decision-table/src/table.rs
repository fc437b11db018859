//! The chapter's decision table, in our own words: which job, which model it recommends, why,
//! and which scenario of this workspace measures it (if any does yet).

/// One row of the chapter's table.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// The job, as the chapter lists it.
    pub job: &'static str,
    /// The model the chapter recommends.
    pub chapter_choice: &'static str,
    /// The chapter's reason, paraphrased.
    pub why: &'static str,
    /// The scenario of this workspace that measures the row, if one does.
    pub scenario: Option<&'static str>,
}

/// The chapter's ten rows, in its order.
pub const ROWS: [Row; 10] = [
    Row {
        job: "Many HTTP requests",
        chapter_choice: "asyncio",
        why: "waiting on the network; scales to many connections",
        scenario: Some("requests"),
    },
    Row {
        job: "Processing large files",
        chapter_choice: "multiprocessing",
        why: "CPU-bound; needs real parallelism",
        scenario: None,
    },
    Row {
        job: "Downloading files",
        chapter_choice: "threading",
        why: "waiting on the network; simple to write",
        scenario: Some("downloads"),
    },
    Row {
        job: "Responsive GUI",
        chapter_choice: "threading",
        why: "keep the interface from freezing",
        scenario: None,
    },
    Row {
        job: "Image processing",
        chapter_choice: "multiprocessing",
        why: "CPU-bound; gets around the GIL",
        scenario: Some("images"),
    },
    Row {
        job: "Web scraping",
        chapter_choice: "asyncio or threading",
        why: "waiting on the network; depends on the library",
        scenario: Some("requests"),
    },
    Row {
        job: "Machine-learning training",
        chapter_choice: "multiprocessing",
        why: "CPU-bound; use every core",
        scenario: None,
    },
    Row {
        job: "Chat server",
        chapter_choice: "asyncio",
        why: "waiting on sockets; thousands of connections",
        scenario: Some("chat"),
    },
    Row {
        job: "Mathematical computation",
        chapter_choice: "multiprocessing",
        why: "CPU-bound; parallel work",
        scenario: Some("matrix"),
    },
    Row {
        job: "Database reads and writes",
        chapter_choice: "asyncio",
        why: "waiting on the database; many at once",
        scenario: None,
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
            r.chapter_choice,
            r.why,
            r.scenario.unwrap_or("not covered yet")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_every_row() {
        let t = super::render();
        assert_eq!(t.lines().filter(|l| l.starts_with("| ")).count(), 12);
    }
}
