//! `mdriver plot` and `mdriver heapmap`, run as a user would run them: the SVGs are
//! well-formed XML, name what they show, and their numbers are the numbers behind
//! them; bad usage exits 2 with a message that says what was wrong. No assertion here
//! depends on how fast anything ran.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mdriver::heapmap::{self, At, MapKind};
use mdriver::registry;
use mdriver::replay;
use mdriver::subject::{Ours, Subject};
use mm_core::{Align, Allocator, MemLib, SpanKind};
use mm_testkit::fault::{Bump, Fault};
use mm_trace::Trace;

fn mdriver(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdriver")).args(args).output().expect("mdriver runs")
}

/// A scratch directory unique to one test, emptied first.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mdriver-pictures-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Seven ops, three blocks, a realloc that grows: small enough for a debug build.
const SMALL: &str = "0\n3\n7\n1\na 0 40\na 1 24\nr 0 100\na 2 8\nf 1\nf 2\nr 0 0\n";

// ---------------------------------------------------------------------------------------
// A minimal XML reader: enough to say a document is well-formed and to look inside it
// ---------------------------------------------------------------------------------------

/// An element: its name and attributes.
#[derive(Debug, Clone)]
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
}

/// A well-formed document's elements (in document order) and its text, unescaped.
#[derive(Debug, Default)]
struct Doc {
    elements: Vec<Element>,
    text: String,
}

impl Doc {
    fn all(&self, name: &str) -> impl Iterator<Item = &Element> {
        self.elements.iter().filter(move |e| e.name == name)
    }
}

/// Unescapes `raw`, failing on a `<` or on an `&` that starts no known entity.
fn unescape(raw: &str) -> Result<String, String> {
    if raw.contains('<') {
        return Err(format!("a raw '<' in {raw:?}"));
    }
    let mut out = String::new();
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(';').ok_or_else(|| format!("an unterminated entity in {raw:?}"))?;
        let entity = &rest[at + 1..at + end];
        out.push_str(match entity {
            "amp" => "&",
            "lt" => "<",
            "gt" => ">",
            "quot" => "\"",
            "apos" => "'",
            e if e.starts_with('#') => "?",
            e => return Err(format!("an unknown entity &{e}; in {raw:?}")),
        });
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')
}

/// Checks that `xml` is well-formed: tags nest and match, attributes are quoted and
/// unique, entities are known, one root element, nothing but space outside it.
fn parse(xml: &str) -> Result<Doc, String> {
    let mut doc = Doc::default();
    let mut stack: Vec<String> = Vec::new();
    let mut roots = 0;
    let mut rest = xml;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<?") {
            rest = &after[after.find("?>").ok_or("an unterminated <?")? + 2..];
        } else if let Some(after) = rest.strip_prefix("<!--") {
            rest = &after[after.find("-->").ok_or("an unterminated comment")? + 3..];
        } else if let Some(after) = rest.strip_prefix("</") {
            let end = after.find('>').ok_or("an unterminated end tag")?;
            let name = after[..end].trim();
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            rest = &after[end + 1..];
        } else if let Some(after) = rest.strip_prefix('<') {
            let name_len = after.find(|c: char| !is_name_char(c)).unwrap_or(after.len());
            let name = &after[..name_len];
            if name.is_empty() {
                return Err(format!("a tag without a name at {:?}", &rest[..rest.len().min(40)]));
            }
            if stack.is_empty() {
                roots += 1;
            }
            let mut attrs = BTreeMap::new();
            let mut tail = &after[name_len..];
            let closed = loop {
                tail = tail.trim_start();
                if let Some(t) = tail.strip_prefix("/>") {
                    tail = t;
                    break true;
                }
                if let Some(t) = tail.strip_prefix('>') {
                    tail = t;
                    break false;
                }
                let attr_len = tail.find(|c: char| !is_name_char(c)).unwrap_or(tail.len());
                let attr = &tail[..attr_len];
                if attr.is_empty() {
                    return Err(format!("<{name}>: junk at {:?}", &tail[..tail.len().min(40)]));
                }
                let after_eq = tail[attr_len..]
                    .trim_start()
                    .strip_prefix('=')
                    .ok_or(format!("<{name} {attr}> has no ="))?;
                let after_eq = after_eq.trim_start();
                let quote = after_eq
                    .chars()
                    .next()
                    .filter(|&q| q == '"' || q == '\'')
                    .ok_or(format!("<{name} {attr}=...> is not quoted"))?;
                let value_end =
                    after_eq[1..].find(quote).ok_or(format!("<{name} {attr}=...> is not closed"))?;
                let value = unescape(&after_eq[1..1 + value_end])?;
                if attrs.insert(attr.to_owned(), value).is_some() {
                    return Err(format!("<{name}> repeats the attribute {attr}"));
                }
                tail = &after_eq[value_end + 2..];
            };
            doc.elements.push(Element { name: name.to_owned(), attrs });
            if !closed {
                stack.push(name.to_owned());
            }
            rest = tail;
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let text = unescape(&rest[..end])?;
            if stack.is_empty() && !text.trim().is_empty() {
                return Err(format!("text outside the root element: {text:?}"));
            }
            doc.text.push_str(&text);
            doc.text.push('\n');
            rest = &rest[end..];
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> is never closed"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(doc)
}

fn svg_file(path: &Path) -> Doc {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = parse(&text).unwrap_or_else(|e| panic!("{} is not well-formed: {e}", path.display()));
    assert_eq!(doc.elements[0].name, "svg", "{} is not an SVG", path.display());
    doc
}

#[test]
fn the_xml_reader_rejects_what_is_not_well_formed() {
    assert!(parse(r#"<svg a="1"><g><rect/></g><text>a &amp; b</text></svg>"#).is_ok());
    for bad in [
        "<svg><g></svg>",
        "<svg></g>",
        "<svg a=1/>",
        r#"<svg a="1" a="2"/>"#,
        "<svg>a & b</svg>",
        "<svg/><svg/>",
        "<svg>",
        "<svg/>text",
        r#"<svg a="<"/>"#,
    ] {
        assert!(parse(bad).is_err(), "{bad} passed");
    }
}

// ---------------------------------------------------------------------------------------
// plot
// ---------------------------------------------------------------------------------------

fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| headers.iter().map(str::to_owned).zip(r.unwrap().iter().map(str::to_owned)).collect())
        .collect()
}

#[test]
fn plot_races_and_draws_three_charts_with_their_data() {
    let dir = scratch("plot");
    let trace = write(&dir, "small.rep", SMALL);
    let out_dir = dir.join("charts");
    let growth_args = ["--growth-max", "2048", "--growth-pairs", "64"];
    let mut args = vec!["plot", "-f", &trace, "--reps", "1", "--format", "json"];
    args.extend(["-s", "implicit", "-s", "segregated", "-s", "buddy", "-s", "libc"]);
    args.extend(growth_args);
    let out_str = out_dir.to_str().unwrap();
    args.extend(["--out-dir", out_str]);
    let out = mdriver(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The race's own report on stdout, as `--format json` prints it.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the race report");
    assert_eq!(report["runs"].as_array().unwrap().len(), 4);

    let utilization = svg_file(&out_dir.join("utilization.svg"));
    for name in ["Utilization", "implicit", "segregated", "buddy", "small", "(average)", "alignment bound"] {
        assert!(utilization.text.contains(name), "utilization.svg lacks {name:?}");
    }
    assert!(!utilization.text.contains("libc"), "libc has no utilization");
    let throughput = svg_file(&out_dir.join("throughput.svg"));
    for name in [
        "relative to the system malloc",
        "implicit",
        "segregated",
        "buddy",
        "small",
        "(overall)",
        "libc (the system malloc) = 1",
    ] {
        assert!(throughput.text.contains(name), "throughput.svg lacks {name:?}");
    }
    let growth = svg_file(&out_dir.join("cost-growth.svg"));
    for name in ["Cost growth", "implicit", "segregated", "buddy", "libc", "live blocks", "1k", "2k"] {
        assert!(growth.text.contains(name), "cost-growth.svg lacks {name:?}");
    }
    // Each strategy's colour is the same in every chart.
    for strategy in ["implicit", "segregated", "buddy"] {
        let colour = mdriver::plot::css(mdriver::plot::colour_of(strategy)).to_uppercase();
        for (chart, doc) in [("utilization", &utilization), ("throughput", &throughput), ("growth", &growth)]
        {
            let uses = |e: &Element| {
                ["fill", "stroke"].iter().any(|a| e.attrs.get(*a).is_some_and(|v| v.to_uppercase() == colour))
            };
            assert!(doc.elements.iter().any(uses), "{chart} never draws {strategy} in {colour}");
        }
    }

    // The CSVs hold the numbers of the report.
    let util = csv_rows(&out_dir.join("utilization.csv"));
    let run =
        |s: &str| report["runs"].as_array().unwrap().iter().find(|r| r["strategy"] == s).unwrap().clone();
    for strategy in ["implicit", "segregated", "buddy"] {
        let row = util.iter().find(|r| r["strategy"] == strategy && r["trace"] == "small").unwrap();
        let util: f64 = row["util"].parse().unwrap();
        assert!((util - run(strategy)["util"].as_f64().unwrap()).abs() < 1e-12);
        assert!((0.0..=1.0).contains(&util));
    }
    assert_eq!(util.iter().filter(|r| r["trace"] == "(average)").count(), 3);
    let thru = csv_rows(&out_dir.join("throughput.csv"));
    let row = thru.iter().find(|r| r["strategy"] == "segregated" && r["trace"] == "small").unwrap();
    let (kops, libc, ratio): (f64, f64, f64) = (
        row["kops"].parse().unwrap(),
        row["libc_kops"].parse().unwrap(),
        row["ratio_vs_libc"].parse().unwrap(),
    );
    assert!((kops / libc - ratio).abs() < 1e-9 * ratio);
    assert!((kops - run("segregated")["kops"].as_f64().unwrap()).abs() < 1e-6 * kops);
    let points = csv_rows(&out_dir.join("cost-growth.csv"));
    for strategy in ["implicit", "segregated", "buddy", "libc"] {
        let lives: Vec<&str> =
            points.iter().filter(|r| r["strategy"] == strategy).map(|r| r["live_blocks"].as_str()).collect();
        assert!(lives.first() == Some(&"1024"), "{strategy}: {lives:?}");
    }

    // The same report read back draws the same utilization and throughput charts.
    let json = write(&dir, "r.json", &String::from_utf8(out.stdout).unwrap());
    // Without --out-dir they go to ./mmlab-plots, never into a docs/ of the directory
    // it runs in.
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mdriver"))
        .args(["plot", "--input", &json, "--no-growth"])
        .current_dir(&elsewhere)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(elsewhere.join("mmlab-plots/utilization.svg").exists());
    assert!(!elsewhere.join("docs").exists(), "plot wrote into ./docs");
    let again = dir.join("again");
    let out = mdriver(&["plot", "--input", &json, "--no-growth", "--out-dir", again.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for chart in ["utilization.svg", "throughput.svg", "utilization.csv", "throughput.csv"] {
        assert_eq!(
            std::fs::read(out_dir.join(chart)).unwrap(),
            std::fs::read(again.join(chart)).unwrap(),
            "{chart}"
        );
    }
    assert!(!again.join("cost-growth.svg").exists(), "--no-growth draws no growth chart");
    // And the growth chart redrawn from its CSV keeps its lines.
    let csv = out_dir.join("cost-growth.csv");
    let out = mdriver(&[
        "plot",
        "--input",
        &json,
        "--growth-input",
        csv.to_str().unwrap(),
        "--out-dir",
        again.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read(&csv).unwrap(), std::fs::read(again.join("cost-growth.csv")).unwrap());
    let redrawn = svg_file(&again.join("cost-growth.svg"));
    assert_eq!(redrawn.all("polyline").count(), growth.all("polyline").count());
    assert!(growth.all("polyline").count() >= 4, "a line per curve");
}

#[test]
fn a_curve_over_its_budget_stops_and_the_chart_says_so() {
    let dir = scratch("budget");
    let trace = write(&dir, "small.rep", SMALL);
    let out_dir = dir.join("charts");
    let out = mdriver(&[
        "plot",
        "-f",
        &trace,
        "--reps",
        "1",
        "-s",
        "explicit",
        "--growth-max",
        "4096",
        "--growth-pairs",
        "64",
        "--growth-budget",
        "0",
        "--out-dir",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let growth = svg_file(&out_dir.join("cost-growth.svg"));
    for name in
        ["explicit (stopped after 1k: ", " s > 0.0 s budget)", "explicit: stopped", "libc (stopped after 1k"]
    {
        assert!(growth.text.contains(name), "cost-growth.svg lacks {name:?}:\n{}", growth.text);
    }
    let rows = csv_rows(&out_dir.join("cost-growth.csv"));
    assert_eq!(rows.len(), 2, "one point per curve: {rows:?}");
    assert!(rows.iter().all(|r| r["note"].contains("stopped after 1k live blocks: that point took")));
}

#[test]
fn plot_refuses_what_is_not_a_report() {
    let dir = scratch("notreport");
    let junk = write(&dir, "junk.json", "{\"runs\": 3}");
    let out = mdriver(&["plot", "--input", &junk, "--no-growth", "--out-dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("junk.json: not a race report"), "{}", stderr(&out));
    let out = mdriver(&["plot", "--input", "/nonexistent/r.json", "--no-growth"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/r.json"), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------
// heapmap
// ---------------------------------------------------------------------------------------

/// The snapshots of a heap map SVG: each `<g class="snapshot">`'s attributes.
fn snapshots(doc: &Doc) -> Vec<&BTreeMap<String, String>> {
    doc.all("g").filter(|g| g.attrs.get("class").is_some_and(|c| c == "snapshot")).map(|g| &g.attrs).collect()
}

#[test]
fn heapmap_totals_are_the_spans_totals() {
    let dir = scratch("heapmap");
    let trace_path = write(&dir, "small.rep", SMALL);
    let trace = Trace::parse("small.rep", SMALL.as_bytes()).unwrap();
    for strategy in ["implicit", "explicit", "segregated", "buddy"] {
        let svg = dir.join(format!("{strategy}.svg"));
        let out = mdriver(&[
            "heapmap",
            "--strategy",
            strategy,
            "--trace",
            &trace_path,
            "--at",
            "peak,end",
            "--at",
            "op:2",
            "-o",
            svg.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{strategy}: {}", stderr(&out));
        let doc = svg_file(&svg);
        for name in [
            "Heap map",
            strategy,
            "small",
            "payload",
            "padding",
            "metadata",
            "free",
            "unused",
            "peak of live payload",
            "end",
            "op 2",
        ] {
            assert!(doc.text.contains(name), "{strategy}: the map lacks {name:?}");
        }

        // The same map, made by the library (with the CLI's default heap: the buddy
        // system's control area grows with it), against the strategy's own spans.
        let info = registry::find(strategy).unwrap();
        let build = || (info.build)(MemLib::new(mm_core::DEFAULT_MAX_HEAP).unwrap(), Align::MIN);
        let map = heapmap::map(strategy, build(), &trace, &[At::Peak, At::End, At::Op(2)]).unwrap();
        assert_eq!(map.snapshots.iter().map(|s| s.ops_done).collect::<Vec<_>>(), [2, 4, 7]);
        let drawn = snapshots(&doc);
        assert_eq!(drawn.len(), 3);
        let mut ours = Ours(build());
        let mut blocks = Vec::new();
        for (snap, attrs) in map.snapshots.iter().zip(drawn) {
            // The spans tile the whole map.
            let mut at = 0;
            for span in &snap.spans {
                assert_eq!(span.offset, at, "{strategy} at op {}: a gap or an overlap", snap.ops_done);
                at += span.len;
            }
            assert_eq!(at, map.high_water);
            // The SVG's totals are the snapshot's.
            let totals = snap.totals();
            for kind in MapKind::ALL {
                let drawn: usize = attrs[&format!("data-{}", kind.name())].parse().unwrap();
                assert_eq!(
                    drawn,
                    totals[kind as usize],
                    "{strategy} at op {}: {}",
                    snap.ops_done,
                    kind.name()
                );
            }
            assert_eq!(attrs["data-op"], snap.ops_done.to_string());
            // Payload is exactly the live requested bytes; unused is what lies past the break.
            assert_eq!(snap.total(MapKind::Payload), snap.live_bytes);
            assert_eq!(snap.total(MapKind::Unused), map.high_water - snap.heap_size);
            assert_eq!(snap.total(MapKind::Unknown), 0, "{strategy} describes its heap");
            // Against the strategy's own spans after the same operations: metadata and
            // free are its own, and payload + padding are its payload and padding spans.
            let prefix = Trace { ops: trace.ops[..snap.ops_done].to_vec(), ..trace.clone() };
            replay::timed_replay(&mut ours, &prefix, &mut blocks);
            let spans = ours.0.heap_spans().expect("our strategies describe their heaps");
            let of = |kind: SpanKind| spans.iter().filter(|s| s.kind == kind).map(|s| s.len).sum::<usize>();
            assert_eq!(ours.heap().unwrap().heap_size(), snap.heap_size);
            assert_eq!(
                snap.total(MapKind::Metadata),
                of(SpanKind::Metadata),
                "{strategy} at op {}",
                snap.ops_done
            );
            assert_eq!(snap.total(MapKind::Free), of(SpanKind::Free), "{strategy} at op {}", snap.ops_done);
            assert_eq!(
                snap.total(MapKind::Payload) + snap.total(MapKind::Padding),
                of(SpanKind::Payload) + of(SpanKind::Padding),
                "{strategy} at op {}",
                snap.ops_done
            );
        }
        // The peak snapshot has live blocks; the end has none.
        assert!(map.snapshots[1].live_bytes > 0);
        assert_eq!(map.snapshots[2].live_bytes, 0);
    }
}

#[test]
fn a_heapmap_of_a_bundled_trace_by_name_stays_small() {
    let dir = scratch("bundled");
    let svg = dir.join("map.svg");
    let out = mdriver(&["heapmap", "--strategy", "buddy", "--trace", "churn-3", "-o", svg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = svg_file(&svg);
    assert_eq!(snapshots(&doc).len(), 5, "peak, end and three evenly spaced points");
    let size = std::fs::metadata(&svg).unwrap().len();
    assert!(size < 2 << 20, "{size} bytes");
    // One address label per line of every snapshot, starting at 0.
    assert!(doc.text.contains("0x000000"));
}

#[test]
fn a_strategy_that_does_not_describe_its_heap_is_mapped_from_the_requests() {
    let trace = Trace::parse("small.rep", SMALL.as_bytes()).unwrap();
    // A bump allocator that does not describe its heap (the trait's default), as a
    // third-party strategy behind an adapter might not.
    let opaque = Box::new(Bump::new(MemLib::new(1 << 16).unwrap(), Align::MIN, Fault::None));
    let map = heapmap::map("opaque", opaque, &trace, &[At::Peak]).unwrap();
    let snap = &map.snapshots[0];
    assert!(!snap.described);
    assert_eq!(snap.total(MapKind::Payload), snap.live_bytes);
    assert_eq!(snap.total(MapKind::Payload) + snap.total(MapKind::Unknown), snap.heap_size);
    for kind in [MapKind::Padding, MapKind::Metadata, MapKind::Free] {
        assert_eq!(snap.total(kind), 0);
    }
    let doc = parse(&heapmap::render(&map, None)).unwrap();
    assert!(doc.text.contains("unknown: free or overhead (strategy does not say)"));
    assert!(doc.text.contains("driver's view (no heap_spans)"));
}

#[test]
fn heapmap_usage_errors_exit_two_and_say_why() {
    let dir = scratch("usage");
    let trace = write(&dir, "small.rep", SMALL);
    let out = mdriver(&["heapmap", "--strategy", "no-such", "--trace", &trace]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("invalid value 'no-such' for '--strategy <NAME>'"), "{}", stderr(&out));
    assert!(stderr(&out).contains("segregated"), "the valid names are listed: {}", stderr(&out));
    let out = mdriver(&["heapmap", "--strategy", "libc", "--trace", &trace]);
    assert_eq!(out.status.code(), Some(2), "libc has no heap to map");
    let out = mdriver(&["heapmap", "--strategy", "implicit", "--trace", &trace, "--at", "peak,middle"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("\"middle\" is not a point of the trace: use peak, end or op:N"),
        "{}",
        stderr(&out)
    );
    let out = mdriver(&["heapmap", "--strategy", "implicit", "--trace", &trace, "--at", "op:8"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--at op:8: the trace has only 7 operations"), "{}", stderr(&out));
    let out = mdriver(&["heapmap", "--strategy", "implicit", "--trace", "no-such-trace"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no bundled trace has that name"), "{}", stderr(&out));
    assert!(stderr(&out).contains("churn-3"), "the bundled names are listed: {}", stderr(&out));
}
