//! What a run with child processes reports as its memory: the children's PSS summed, sampled
//! while they live (`children_pss_kib`, counted in `max_rss_kib`), with their summed RSS beside
//! it (`children_rss_kib`), which counts the pages they share (this binary, the C library)
//! once per child and so overstates them.

use testkit::run::run_json;

const EXE: &str = env!("CARGO_BIN_EXE_multiprocessing");

#[test]
fn childrens_memory_is_their_pss_with_their_summed_rss_beside_it() {
    let (s, _) = run_json(EXE, &["workers", "--workers", "4", "--sleep-ms", "800"]);
    let pss = s.extra["children_pss_kib"]
        .as_u64()
        .expect("children_pss_kib");
    let rss = s.extra["children_rss_kib"]
        .as_u64()
        .expect("children_rss_kib");
    // Four idle children: a few hundred KiB each of their own, more of shared pages.
    assert!(pss > 4 * 100, "{pss} KiB of PSS for four children");
    assert!(pss < rss, "PSS {pss} KiB is not below summed RSS {rss} KiB");
    assert!(
        s.max_rss_kib >= pss,
        "{} KiB does not count the children",
        s.max_rss_kib
    );
}

#[test]
fn a_run_without_children_reports_no_childrens_memory() {
    let inputs = testkit::cpu::cpu_inputs(20, 1);
    let dir = inputs.matrix.to_str().unwrap();
    let (s, _) = run_json(EXE, &["matrix", dir, "--engine", "rayon", "--workers", "2"]);
    assert!(s.extra.get("children_pss_kib").is_none(), "{:?}", s.extra);
    let (s, _) = run_json(EXE, &["matrix", dir, "--workers", "2"]);
    assert!(
        s.extra["children_pss_kib"].as_u64() > Some(0),
        "{:?}",
        s.extra
    );
}
