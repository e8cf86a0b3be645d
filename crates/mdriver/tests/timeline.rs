//! `mdriver timeline`, run as a user would run it: the page is one self-contained file
//! that embeds exactly the engine's data, bad input exits non-zero saying why, and, in
//! a real browser, the page draws at each op the heap the driver computes there.
//!
//! The browser tests are `#[ignore]`d: they need Chromium (`apt-get install chromium`;
//! `MMLAB_CHROMIUM` names another binary). `just timeline-browser-test` runs them, and
//! CI installs Chromium and runs them after the workspace's tests. They load the page
//! headless at `#op=N`, where it draws op N and writes a report into the DOM (the op,
//! per strategy what it drew and the block it outlined, and every JavaScript error),
//! and compare the report with a heap map of op N, which replays the trace's first N
//! ops afresh: another path through the engine than the page's steps. With
//! `MMLAB_BLESS_DOCS=1` the screenshot test writes docs/timeline/*.png.
//!
//! No assertion here depends on how fast anything ran.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mdriver::heapmap::{self, At, MapKind};
use mdriver::subject::{Ours, Subject};
use mdriver::timeline::{self, TimelineError};
use mdriver::{race, registry, replay};
use mm_core::{Align, Allocator, DEFAULT_MAX_HEAP, MemLib};
use mm_testkit::fault::{Bump, Fault, Spans};
use mm_trace::{Op, Trace};
use serde_json::Value;

fn mdriver(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdriver")).args(args).output().expect("mdriver runs")
}

/// A scratch directory unique to one test, emptied first.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mdriver-timeline-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Seven ops, three blocks, a realloc that grows.
const SMALL: &str = "0\n3\n7\n1\na 0 40\na 1 24\nr 0 100\na 2 8\nf 1\nf 2\nr 0 0\n";

fn bundled(name: &str) -> Trace {
    mdriver::traces::bundled().unwrap().into_iter().find(|t| t.name == name).unwrap()
}

fn build(name: &str) -> Box<dyn Allocator> {
    (registry::find(name).unwrap().build)(race::heap(DEFAULT_MAX_HEAP).unwrap(), Align::MIN)
}

/// Writes the page of `trace` (a bundled name or a file) for `strategies` into `dir`.
fn make_page(dir: &Path, trace: &str, strategies: &[&str]) -> PathBuf {
    let page = dir.join(format!("{}.html", trace.replace('/', "_")));
    let mut args = vec!["timeline", "-t", trace, "-o", page.to_str().unwrap()];
    for s in strategies {
        args.extend(["-s", s]);
    }
    let out = mdriver(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    page
}

/// The JSON of the page's data element.
fn embedded_data(html: &str) -> Value {
    let open = r#"<script type="application/json" id="data">"#;
    let start = html.find(open).expect("the data element") + open.len();
    let end = start + html[start..].find("</script>").expect("the data element ends");
    serde_json::from_str(&html[start..end]).expect("the data is JSON")
}

// ---------------------------------------------------------------------------------------
// Without a browser
// ---------------------------------------------------------------------------------------

#[test]
fn the_page_is_self_contained_and_embeds_the_engines_data() {
    let dir = scratch("self-contained");
    let page = make_page(&dir, "coalesce-1", &["implicit", "buddy"]);
    let html = std::fs::read_to_string(&page).unwrap();
    for remote in ["http://", "https://", "//cdn", " src=", "<link", "@import", "url("] {
        assert!(!html.contains(remote), "the page refers to something outside it: {remote:?}");
    }
    assert_eq!(html.matches("<script").count(), 2, "the data and the script, both inline");
    let data = embedded_data(&html);
    let trace = bundled("coalesce-1");
    assert_eq!(data["trace"], "coalesce-1");
    assert_eq!(data["ops"], trace.ops.len());
    assert_eq!(data["op_codes"], timeline::encode_ops(&trace.ops).base64());
    let strategies = data["strategies"].as_array().unwrap();
    assert_eq!(strategies.len(), 2);
    for (column, name) in strategies.iter().zip(["implicit", "buddy"]) {
        assert_eq!(column["name"], name);
        let recorded = timeline::record(name, build(name), &trace).unwrap();
        assert_eq!(column["high_water"], recorded.high_water);
        assert_eq!(
            column["steps"].as_str().unwrap(),
            timeline::encode_steps(&recorded.steps).base64(),
            "{name}: the page holds every step the engine recorded"
        );
    }
    // The lines hold the largest heap.
    let (bpp, px, lines) = (data["bytes_per_px"].as_u64(), data["line_px"].as_u64(), data["lines"].as_u64());
    let high_water = strategies.iter().map(|s| s["high_water"].as_u64().unwrap()).max().unwrap();
    assert!(bpp.unwrap() * px.unwrap() * lines.unwrap() >= high_water);
}

#[test]
fn text_from_the_trace_cannot_end_the_script() {
    let dir = scratch("escape");
    let file = dir.join("x<script><!--.rep");
    std::fs::write(&file, SMALL).unwrap();
    let page = make_page(&dir, file.to_str().unwrap(), &["implicit"]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(html.matches("<script").count(), 2, "only the two scripts' own starts");
    assert!(!html.contains("<!--"));
    assert_eq!(embedded_data(&html)["trace"], "x<script><!--", "the name survives, escaped");
}

#[test]
fn bad_input_exits_non_zero_and_says_why() {
    let dir = scratch("usage");
    let trace = dir.join("small.rep");
    std::fs::write(&trace, SMALL).unwrap();
    let trace = trace.to_str().unwrap();
    let out_file = dir.join("out.html");
    let out = out_file.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["-s", "kr"], "kr does not describe its heap (Allocator::heap_spans), so it has no timeline"),
        (&["-s", "implicit", "-s", "talc"], "talc does not describe its heap"),
        (&["-s", "libc"], "libc has no timeline: the driver cannot see inside the system malloc's heap"),
        (&["-s", "c:mm.c"], "c:mm.c: a C allocator does not describe its heap to the driver"),
        (&["-s", "no-such"], "unknown strategy \"no-such\"; choose among implicit, implicit-nextfit"),
        (&["-s", "implicit", "--align", "12"], "--align"),
        (&[], "the following required arguments were not provided"),
    ];
    for (extra, message) in cases {
        let mut args = vec!["timeline", "-t", trace, "-o", out];
        args.extend_from_slice(extra);
        let run = mdriver(&args);
        assert_eq!(run.status.code(), Some(2), "{extra:?}: {}", stderr(&run));
        assert!(stderr(&run).contains(message), "{extra:?}: {}", stderr(&run));
        assert!(!stderr(&run).contains("panicked"), "{}", stderr(&run));
        assert!(!out_file.exists(), "{extra:?} wrote a page");
    }
    let run = mdriver(&["timeline", "-t", "no-such-trace", "-s", "implicit", "-o", out]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("no bundled trace has that name"), "{}", stderr(&run));
    let bad = dir.join("bad.rep");
    std::fs::write(&bad, "0\n1\n2\n1\na 0 8\nf 1\n").unwrap();
    let run = mdriver(&["timeline", "-t", bad.to_str().unwrap(), "-s", "implicit", "-o", out]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("bad.rep"), "the malformed trace is named: {}", stderr(&run));
    // A page that cannot be written is an error, and no temporary file is left.
    let missing = dir.join("no-such-dir").join("page.html");
    let run = mdriver(&["timeline", "-t", trace, "-s", "implicit", "-o", missing.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("no-such-dir"), "{}", stderr(&run));
    // A run that fails leaves the page there was.
    std::fs::write(&out_file, "old page").unwrap();
    let run = mdriver(&["timeline", "-t", trace, "-s", "kr", "-o", out]);
    assert_eq!(run.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "old page");
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

#[test]
fn the_help_names_the_strategies_that_have_a_timeline() {
    let out = mdriver(&["timeline", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    let names = format!("one that describes its heap ({})", timeline::describing().join(", "));
    assert!(help.contains(&names), "{help}");
    assert!(help.contains("See docs/timeline.md"), "{help}");
}

#[test]
fn an_incorrect_strategy_or_a_heap_that_is_not_one_has_no_timeline() {
    let trace = Trace::parse("small.rep", SMALL.as_bytes()).unwrap();
    let heap = || MemLib::new(1 << 16).unwrap();
    let misaligned = Bump::new(heap(), Align::MIN, Fault::Misaligned).with_spans(Spans::Correct);
    let err = timeline::record("misaligned", Box::new(misaligned), &trace).unwrap_err();
    assert!(matches!(err, TimelineError::Incorrect { .. }), "{err}");
    assert!(err.to_string().starts_with("misaligned is incorrect on small: op 0 (a 0 40)"), "{err}");
    let gap = Bump::new(heap(), Align::MIN, Fault::None).with_spans(Spans::Gap);
    let err = timeline::record("gap", Box::new(gap), &trace).unwrap_err();
    assert!(err.to_string().contains("its heap spans do not tile its heap"), "{err}");
    let silent = Bump::new(heap(), Align::MIN, Fault::None);
    let err = timeline::record("silent", Box::new(silent), &trace).unwrap_err();
    assert!(matches!(err, TimelineError::NotDescribed { .. }), "{err}");
    let correct = Bump::new(heap(), Align::MIN, Fault::None).with_spans(Spans::Correct);
    let recorded = timeline::record("bump", Box::new(correct), &trace).unwrap();
    assert_eq!(recorded.steps.len(), trace.ops.len() + 1);
}

// ---------------------------------------------------------------------------------------
// In a browser
// ---------------------------------------------------------------------------------------

/// The Chromium to run: `MMLAB_CHROMIUM`, or the first of the usual names on `PATH`.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("MMLAB_CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
        if let Some(found) = std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file()) {
            return found;
        }
    }
    panic!(
        "the browser tests need Chromium: `apt-get install chromium` (Debian), or name a binary in MMLAB_CHROMIUM"
    );
}

/// Runs headless Chromium on `url` with `args`, with a profile of its own (tests run in
/// parallel), stopping it after two minutes; its standard output.
fn run_chromium(url: &str, args: &[&str]) -> String {
    let profile = scratch(&format!("profile-{:x}", fxhash(url) ^ fxhash(&args.join(" "))));
    let mut child = Command::new(chromium())
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Chromium starts");
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("Chromium did not finish {url} in two minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(&profile);
    reader.join().unwrap()
}

/// A small string hash, to name scratch profiles.
fn fxhash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The page at `#op=<at>` in headless Chromium: the report it wrote into the DOM.
fn report_at(page: &Path, at: &str) -> Value {
    let url = format!("file://{}#op={at}", page.display());
    let dom = run_chromium(&url, &["--virtual-time-budget=30000", "--dump-dom"]);
    let open = dom
        .find(r#"<pre id="report""#)
        .unwrap_or_else(|| panic!("no report in the page at {at}:\n{dom:.2000}"));
    let start = open + dom[open..].find('>').unwrap() + 1;
    let end = start + dom[start..].find("</pre>").unwrap();
    let text = dom[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the report at {at} is not JSON ({e}): {text:.2000}"))
}

/// What the driver computes for one strategy after `n` ops of `trace`, by other means
/// than the page: a heap map of op `n` (a replay of the first `n` ops of its own) and
/// the replay's table of blocks before and after the op.
fn expected(name: &str, trace: &Trace, n: usize) -> Value {
    let map = heapmap::map(name, build(name), trace, &[At::Op(n)]).unwrap();
    let snap = &map.snapshots[0];
    let spans = snap.spans.iter().filter(|s| s.kind != MapKind::Unused).count();
    let total = |k: MapKind| snap.total(k);
    let payload_offset = |ops: usize, id: usize| {
        let prefix = Trace { ops: trace.ops[..ops].to_vec(), ..trace.clone() };
        let mut ours = Ours(build(name));
        let mut blocks = Vec::new();
        replay::timed_replay(&mut ours, &prefix, &mut blocks);
        ours.heap().unwrap().offset_of(blocks[id])
    };
    let touched = match n.checked_sub(1).map(|i| trace.ops[i]) {
        Some(Op::Alloc { id, .. }) => {
            serde_json::json!({"id": id, "offset": payload_offset(n, id), "freed": false})
        }
        Some(Op::Realloc { id, size }) if size > 0 => {
            serde_json::json!({"id": id, "offset": payload_offset(n, id), "freed": false})
        }
        Some(Op::Free { id } | Op::Realloc { id, .. }) => {
            serde_json::json!({"id": id, "offset": payload_offset(n - 1, id), "freed": true})
        }
        _ => Value::Null,
    };
    serde_json::json!({
        "name": name,
        "heap": snap.heap_size,
        "blocks": snap.live_blocks,
        "spans": spans,
        "totals": {
            "payload": total(MapKind::Payload),
            "padding": total(MapKind::Padding),
            "metadata": total(MapKind::Metadata),
            "free": total(MapKind::Free),
        },
        "touched": touched,
    })
}

/// Compares the page's report of one strategy with what the driver computed: every
/// mismatch, named.
fn mismatches(report: &Value, expected: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut same = |what: &str, got: &Value, want: &Value| {
        if got != want {
            out.push(format!("{what}: the page drew {got}, the driver computes {want}"));
        }
    };
    for key in ["name", "heap", "blocks", "spans"] {
        same(key, &report[key], &expected[key]);
    }
    same("live blocks (the page's own count)", &report["live_blocks"], &expected["blocks"]);
    for kind in ["payload", "padding", "metadata", "free"] {
        same(&format!("{kind} bytes"), &report["totals"][kind], &expected["totals"][kind]);
    }
    let touched = &report["touched"];
    let want = &expected["touched"];
    if want.is_null() {
        same("touched block", touched, want);
    } else {
        for key in ["id", "offset", "freed"] {
            same(&format!("touched block's {key}"), &touched[key], &want[key]);
        }
        let (lo, hi) = (touched["lo"].as_u64(), touched["hi"].as_u64());
        let offset = want["offset"].as_u64();
        if !(lo <= offset && offset < hi) {
            out.push(format!("the outline {lo:?}..{hi:?} does not hold the payload at {offset:?}"));
        }
        // Hovering the block names it and its payload (unless it was freed).
        let tip = report["tip"].as_str().unwrap_or_default();
        let named = format!("block {}: ", want["id"]);
        let at = format!("payload at {:#x}", offset.unwrap_or_default());
        if want["freed"] == false && !(tip.starts_with(&named) && tip.contains(&at)) {
            out.push(format!("hovering the block shows {tip:?}, not {named:?} with {at:?}"));
        }
    }
    out
}

/// Loads `page` at each op of `ops` and checks the page against the driver; returns the
/// reports and the expectations (per op, per strategy).
fn check_page(page: &Path, trace: &Trace, strategies: &[&str], ops: &[usize]) -> Vec<(Value, Vec<Value>)> {
    let mut seen = Vec::new();
    for &n in ops {
        let report = report_at(page, &n.to_string());
        assert_eq!(report["errors"], serde_json::json!([]), "JavaScript errors at op {n}");
        assert_eq!(report["ready"], true, "the page did not finish drawing op {n}: {report}");
        assert_eq!(report["op"], n);
        let drawn = report["strategies"].as_array().unwrap();
        assert_eq!(drawn.len(), strategies.len());
        let wanted: Vec<Value> = strategies.iter().map(|s| expected(s, trace, n)).collect();
        for (got, want) in drawn.iter().zip(&wanted) {
            let wrong = mismatches(got, want);
            assert!(wrong.is_empty(), "{} at op {n} of {}:\n{}", want["name"], trace.name, wrong.join("\n"));
        }
        seen.push((report, wanted));
    }
    seen
}

/// The ops to look at: the start, the first ops, the first free and realloc (the ops
/// after which their block is outlined), the peak, the middle and the end.
fn ops_to_check(trace: &Trace) -> Vec<usize> {
    let first = |f: fn(&Op) -> bool| trace.ops.iter().position(f).map(|i| i + 1);
    let live = heapmap::live_after(trace);
    let peak = (0..live.len()).max_by_key(|&i| (live[i], std::cmp::Reverse(i))).unwrap();
    let mut ops = vec![0, 1, 2, peak, trace.ops.len() / 2, trace.ops.len()];
    ops.extend(first(|op| matches!(op, Op::Free { .. })));
    ops.extend(first(|op| matches!(op, Op::Realloc { size, .. } if *size > 0)));
    ops.sort_unstable();
    ops.dedup();
    ops
}

#[test]
#[ignore = "needs Chromium: just timeline-browser-test"]
fn the_page_draws_the_heap_the_driver_computes() {
    let dir = scratch("browser");
    for (name, strategies) in [
        ("realloc-1", &["implicit", "segregated", "buddy"][..]),
        ("churn-3", &["explicit", "explicit-addr"][..]),
    ] {
        let trace = bundled(name);
        let page = make_page(&dir, name, strategies);
        let ops = ops_to_check(&trace);
        let seen = check_page(&page, &trace, strategies, &ops);
        // The comparison can fail: the page at one op against the driver at another.
        let (report, _) = &seen[ops.iter().position(|&n| n == trace.ops.len() / 2).unwrap()];
        let (_, other) = &seen[ops.iter().position(|&n| n == trace.ops.len()).unwrap()];
        let drawn = report["strategies"].as_array().unwrap();
        assert!(drawn.iter().zip(other).all(|(got, want)| !mismatches(got, want).is_empty()));
        // `#op=peak` is the peak the driver names.
        let peak = report_at(&page, "peak");
        assert_eq!(peak["op"], report["peak"]);
        assert!(ops.contains(&(peak["op"].as_u64().unwrap() as usize)));
    }
}

#[test]
#[ignore = "needs Chromium: just timeline-browser-test"]
fn the_controls_move_the_op() {
    let dir = scratch("controls");
    let trace = bundled("realloc-1");
    let page = make_page(&dir, "realloc-1", &["implicit", "buddy"]);
    let report = report_at(&page, "10&selftest");
    assert_eq!(report["errors"], serde_json::json!([]));
    let (n, peak) = (trace.ops.len() as u64, report["peak"].as_u64().unwrap());
    // right, right, left, shift-right, shift-left, p, End, Home, the slider at a third,
    // jump to peak, forward, back; then play (500 ops a frame) from 700 before the end:
    // two frames, and the end.
    let want = [11, 12, 11, 111, 11, peak, n, 0, n / 3, peak, peak + 1, peak, n - 700, n - 200, n];
    assert_eq!(report["selftest"]["ops"], serde_json::json!(want));
    assert_eq!(report["selftest"]["playing_at_the_end"], false, "play stops at the end");
    let tip = report["selftest"]["tip"].as_str().expect("hovering the outlined block shows a tip");
    assert!(tip.contains("bytes"), "{tip}");
    assert_eq!(report["op"], n);
}

#[test]
#[ignore = "needs Chromium: just timeline-browser-test"]
fn a_broken_page_fails_the_check() {
    let dir = scratch("broken");
    let page = make_page(&dir, "coalesce-1", &["implicit"]);
    let html = std::fs::read_to_string(&page).unwrap();
    // Steps cut short: the page must throw, and report it.
    let data = embedded_data(&html);
    let steps = data["strategies"][0]["steps"].as_str().unwrap();
    let cut = &steps[..steps.len() / 2 / 4 * 4];
    let broken = dir.join("broken.html");
    std::fs::write(&broken, html.replacen(steps, cut, 1)).unwrap();
    let report = report_at(&broken, "10");
    let errors = report["errors"].as_array().unwrap();
    assert!(!errors.is_empty(), "a page with half its data reported no error: {report}");
    assert_ne!(report["ready"], true);
    // A heap drawn from another strategy's steps is the wrong heap.
    let other = make_page(&dir, "coalesce-1", &["buddy"]);
    let buddy = embedded_data(&std::fs::read_to_string(&other).unwrap())["strategies"][0]["steps"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = dir.join("wrong.html");
    std::fs::write(&wrong, html.replacen(steps, &buddy, 1)).unwrap();
    let report = report_at(&wrong, "3000");
    assert_eq!(report["errors"], serde_json::json!([]));
    let trace = bundled("coalesce-1");
    let wrong = mismatches(&report["strategies"][0], &expected("implicit", &trace, 3000));
    assert!(!wrong.is_empty(), "buddy's heap passed for implicit's");
}

/// One chapter of docs/timeline.md: its picture, and the page it is taken from.
struct Chapter {
    png: &'static str,
    trace: &'static str,
    strategies: &'static [&'static str],
    at: &'static str,
}

/// docs/timeline.md's pictures (its commands are these pages').
const CHAPTERS: &[Chapter] = &[
    Chapter { png: "fit.png", trace: "binary-1", strategies: &["implicit", "implicit-bestfit"], at: "peak" },
    Chapter { png: "order.png", trace: "churn-3", strategies: &["explicit", "explicit-addr"], at: "peak" },
    Chapter { png: "segregated.png", trace: "binary-1", strategies: &["implicit", "segregated"], at: "5700" },
    Chapter {
        png: "buddy.png",
        trace: "coalesce-1",
        strategies: &["segregated", "buddy", "buddy-bitmap"],
        at: "1676",
    },
];

#[test]
#[ignore = "needs Chromium: just timeline-browser-test (MMLAB_BLESS_DOCS=1: writes docs/timeline/*.png)"]
fn the_docs_screenshots_are_of_working_pages() {
    let bless = std::env::var_os("MMLAB_BLESS_DOCS").is_some_and(|v| v == "1");
    let dir = scratch("screenshots");
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/timeline");
    for chapter in CHAPTERS {
        let page = make_page(&dir, chapter.trace, chapter.strategies);
        let report = report_at(&page, chapter.at);
        assert_eq!(report["errors"], serde_json::json!([]), "{}", chapter.png);
        assert_eq!(report["ready"], true, "{}", chapter.png);
        let png = if bless { docs.join(chapter.png) } else { dir.join(chapter.png) };
        let url = format!("file://{}#op={}", page.display(), chapter.at);
        // Room for every column: two fit in 1280 pixels, a third needs about 460 more.
        let width: u32 = if chapter.strategies.len() > 2 { 1740 } else { 1280 };
        run_chromium(
            &url,
            &[
                "--virtual-time-budget=30000",
                &format!("--window-size={width},800"),
                &format!("--screenshot={}", png.display()),
            ],
        );
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", chapter.png);
        let size = (
            u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
            u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
        );
        assert_eq!(size, (width, 800), "{}", chapter.png);
    }
}
