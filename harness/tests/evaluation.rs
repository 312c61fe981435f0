//! `reproduce`, the paper's evaluation: a real but small run set (the user-scale calibration,
//! Online Boutique, parking) end to end, and the analysis, figures and claims redone from a
//! committed fixture of CSV files (`tests/fixtures/evaluation/`, cut from a real quick run),
//! where a planted value must change the verdict it should.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn claims(dir: &Path) -> BTreeMap<String, BTreeMap<String, String>> {
    harness::figures::read_csv(&dir.join("claims.csv")).unwrap().into_iter().map(|r| (r["id"].clone(), r)).collect()
}

fn non_empty(path: &Path) {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    assert!(len > 1000, "{} missing or near empty ({len} bytes)", path.display());
}

const CLAIMS: &[&str] = &[
    "s-vs-d-cpu",
    "s-vs-d-throughput",
    "s-vs-d-latency",
    "s-vs-knative-throughput",
    "s-vs-knative-latency",
    "s-vs-knative-cpu",
    "warm-no-cold-starts-motion",
    "warm-no-cold-starts-parking",
    "warm-idle-cpu",
    "warm-memory",
];

const VERDICTS: &[&str] = &["holds", "does not hold", "cannot be shown on this machine", "not measured"];

/// The plan is printed with its estimate, progress says the time left, the user scale is
/// measured, every run is indexed, the figures of what ran are drawn, and `summarize` redoes
/// the claims from the files alone.
#[test]
fn a_small_evaluation_runs_end_to_end() {
    let _g = serial();
    let out = scratch("evaluation");
    let run = std::process::Command::new(exe())
        .args(["reproduce", "--quick", "--experiments", "boutique,parking", "--backends", "s-spright,knative"])
        .args(["--boutique-duration", "2", "--compress", "0.016666666666666666", "--chains-dir"])
        .arg(chain_path("parking").parent().unwrap())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(err.contains("plan: ") && err.contains("in all") && err.contains("calibrate the user scale"), "{err}");
    assert!(err.contains("[1/") && err.contains("left)"), "progress with the time left: {err}");

    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("paper.json")).unwrap()).unwrap();
    let factor = meta["users_factor"].as_f64().unwrap();
    assert!(factor > 0.0 && meta["users_factor_source"].as_str().unwrap().starts_with("measured"), "{meta}");
    let knative_users = meta["knative_users"].as_u64().unwrap();
    assert_eq!(meta["spright_users"].as_u64().unwrap(), 5 * knative_users, "SPRIGHT gets the paper's 5x");

    let index = harness::figures::read_csv(&out.join("runs.csv")).unwrap();
    let has = |series: &str, backend: &str| index.iter().any(|r| r["series"] == series && r["backend"] == backend);
    assert!(has("calibration", "knative") && !has("calibration", "s-spright"), "only Knative calibrates here");
    for b in ["s-spright", "knative"] {
        assert!(has("like-for-like", b) && has("paper", b), "{b} in {index:?}");
    }
    assert!(has("paper-users", "s-spright") && !has("paper-users", "knative"));
    for r in &index {
        assert!(out.join(&r["dir"]).join("summary.csv").is_file(), "{r:?}");
    }

    for f in ["fig9_boutique_rps", "fig10_boutique_cdf", "fig10_boutique_time", "fig10_boutique_cpu", "fig12_parking"] {
        non_empty(&out.join(format!("{f}.png")));
        non_empty(&out.join(format!("{f}.svg")));
    }
    assert!(!out.join("fig11_motion.png").exists(), "motion did not run");

    let c = claims(&out);
    assert_eq!(c.keys().collect::<Vec<_>>().len(), CLAIMS.len());
    for id in CLAIMS {
        assert!(VERDICTS.contains(&c[*id]["verdict"].as_str()), "{id}: {:?}", c[*id]);
    }
    assert_eq!(c["warm-no-cold-starts-parking"]["verdict"], "holds", "S-SPRIGHT never parks a function here");
    assert_eq!(c["s-vs-d-cpu"]["verdict"], "not measured", "D-SPRIGHT did not run");
    assert!(std::fs::read_to_string(out.join("summary.md")).unwrap().contains("## Claims"));

    // From the files alone.
    let before = std::fs::read_to_string(out.join("claims.csv")).unwrap();
    std::fs::remove_file(out.join("claims.csv")).unwrap();
    std::fs::remove_file(out.join("fig9_boutique_rps.png")).unwrap();
    let s = std::process::Command::new(exe()).arg("summarize").arg(&out).output().unwrap();
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
    assert_eq!(std::fs::read_to_string(out.join("claims.csv")).unwrap(), before);
    non_empty(&out.join("fig9_boutique_rps.png"));
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/evaluation")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn summarize(dir: &Path) {
    let s = std::process::Command::new(exe()).arg("summarize").arg(dir).output().unwrap();
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
}

/// A reference run that is asked for but not found is said, in the log and in the verdict of
/// each claim that would have cited it; nothing is silently left out.
#[test]
fn a_missing_reference_is_said() {
    let dir = scratch("no-reference");
    copy_dir(&fixture(), &dir);
    std::fs::remove_dir_all(dir.join("reference")).unwrap();
    let s = std::process::Command::new(exe()).arg("summarize").arg(&dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&s.stderr);
    assert!(s.status.success(), "{stderr}");
    assert!(stderr.contains("reference run reference not found"), "{stderr}");
    let c = claims(&dir);
    for id in ["s-vs-d-throughput", "s-vs-d-latency"] {
        assert_eq!(c[id]["verdict"], "cannot be shown on this machine", "{:?}", c[id]);
        assert!(c[id]["why"].contains("has no sweep there, so none is cited"), "{:?}", c[id]);
        assert_eq!(c[id]["reference_source"], "", "{:?}", c[id]);
    }
}

/// Replace `column` of the single row of `summary.csv` in `run` by `value`.
fn plant(run: &Path, column: &str, value: f64) {
    let path = run.join("summary.csv");
    let mut rows = harness::figures::read_csv(&path).unwrap();
    let header: Vec<String> = common::csv_header(&path);
    rows[0].insert(column.into(), value.to_string());
    let mut w = csv::Writer::from_path(&path).unwrap();
    w.write_record(&header).unwrap();
    w.write_record(header.iter().map(|h| rows[0][h].clone())).unwrap();
    w.flush().unwrap();
}

/// Every figure and claim from the committed CSV fixture; the verdicts are the ones its numbers
/// give by hand (see the fixture's README), and planted values move them.
#[test]
fn claims_and_figures_from_the_fixture_and_a_planted_value() {
    let dir = scratch("fixture");
    copy_dir(&fixture(), &dir);
    summarize(&dir);
    for f in [
        "fig9_boutique_rps",
        "fig10_boutique_cdf",
        "fig10_boutique_time",
        "fig10_boutique_cpu",
        "fig11_motion",
        "fig12_parking",
    ] {
        non_empty(&dir.join(format!("{f}.png")));
        non_empty(&dir.join(format!("{f}.svg")));
    }
    let c = claims(&dir);
    let verdict = |c: &BTreeMap<String, BTreeMap<String, String>>, id: &str| c[id]["verdict"].clone();
    let expected = std::fs::read_to_string(fixture().join("expected-verdicts.csv")).unwrap();
    for line in expected.lines().skip(1) {
        let (id, v) = line.split_once(',').unwrap();
        assert_eq!(verdict(&c, id), v, "{id}: {:?}", c[id]);
    }
    assert!(
        c["s-vs-d-throughput"]["reference_source"].contains("16 cores"),
        "a claim this machine cannot show cites the reference machine: {:?}",
        c["s-vs-d-throughput"]
    );

    // Knative 100x slower than S-SPRIGHT in both repetitions: the latency claim now holds.
    let runs = harness::figures::read_csv(&dir.join("runs.csv")).unwrap();
    let dirs = |series: &str, backend: &str| -> Vec<PathBuf> {
        runs.iter().filter(|r| r["series"] == series && r["backend"] == backend).map(|r| dir.join(&r["dir"])).collect()
    };
    let s_p50: Vec<f64> = dirs("like-for-like", "s-spright")
        .iter()
        .map(|d| harness::results::read_summaries(&d.join("summary.csv")).unwrap()[0].p50_us)
        .collect();
    assert_ne!(verdict(&c, "s-vs-knative-latency"), "holds");
    for (d, s) in dirs("like-for-like", "knative").iter().zip(&s_p50) {
        plant(d, "p50_us", s * 100.0);
    }
    // And a cold start on S-SPRIGHT in parking: keeping functions warm no longer holds.
    for d in dirs("paper", "s-spright").iter().filter(|d| d.starts_with(dir.join("parking"))) {
        plant(d, "cold_requests", 3.0);
    }
    summarize(&dir);
    let planted = claims(&dir);
    assert_eq!(verdict(&planted, "s-vs-knative-latency"), "holds", "{:?}", planted["s-vs-knative-latency"]);
    assert_eq!(verdict(&planted, "warm-no-cold-starts-parking"), "does not hold");
    for id in CLAIMS.iter().filter(|id| !["s-vs-knative-latency", "warm-no-cold-starts-parking"].contains(id)) {
        assert_eq!(verdict(&planted, id), verdict(&c, id), "{id} moved without a planted value");
    }
}
