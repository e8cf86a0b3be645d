//! The race tables quoted in README.md and docs/ are views of one saved race.
//!
//! A quoted table sits between two markers, the first naming the `mdriver` arguments
//! that print it from a saved report:
//!
//! ```text
//! <!-- mdriver: --input docs/results/race.json -s implicit -s buddy -s libc --format markdown -->
//! ...exactly what that command prints (in a ```text fence unless --format markdown)...
//! <!-- /mdriver -->
//! ```
//!
//! This test runs each command and fails when a quoted table differs from its output, so
//! every table in the docs quotes the same run: `just docs` races once into
//! `docs/results/race.json` and rewrites them all (`MMLAB_BLESS_DOCS=1` on this test).

use std::path::{Path, PathBuf};
use std::process::Command;

const OPEN: &str = "<!-- mdriver: ";
const OPEN_END: &str = " -->";
const CLOSE: &str = "<!-- /mdriver -->";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// README.md, traces/README.md and every page of docs/.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md"), root.join("traces/README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    pages.sort();
    files.extend(pages);
    files
}

/// What the marker's command prints, as the document quotes it.
fn render(root: &Path, args: &str) -> Result<String, String> {
    let args: Vec<&str> = args.split_whitespace().collect();
    let input = args.iter().position(|a| *a == "--input").and_then(|i| args.get(i + 1));
    match input {
        Some(path) if path.starts_with("docs/results/") && path.ends_with(".json") => {}
        _ => {
            return Err(format!(
                "`{}` must read a saved race: --input docs/results/<name>.json",
                args.join(" ")
            ));
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mdriver")).args(&args).current_dir(root).output().unwrap();
    if !out.status.success() && out.status.code() != Some(1) {
        return Err(format!("`mdriver {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let text = text.trim_end();
    let markdown = args.windows(2).any(|w| w == ["--format", "markdown"]);
    Ok(if markdown { format!("{text}\n") } else { format!("```text\n{text}\n```\n") })
}

/// One quoted table: the marker's line (1-based), its arguments, and the quoted text's
/// byte range in the document.
struct Quote {
    line: usize,
    args: String,
    body: std::ops::Range<usize>,
}

fn quotes(file: &Path, text: &str) -> Vec<Quote> {
    let mut found = Vec::new();
    let mut offset = 0;
    let mut open: Option<(usize, String, usize)> = None;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let end = offset + line.len();
        let trimmed = line.trim_end();
        if let Some(args) = trimmed.strip_prefix(OPEN).and_then(|l| l.strip_suffix(OPEN_END)) {
            assert!(open.is_none(), "{}:{}: a marker inside a quoted table", file.display(), index + 1);
            open = Some((index + 1, args.to_owned(), end));
        } else if trimmed == CLOSE {
            let (line, args, start) = open
                .take()
                .unwrap_or_else(|| panic!("{}:{}: {CLOSE} without its opening", file.display(), index + 1));
            found.push(Quote { line, args, body: start..offset });
        }
        offset = end;
    }
    if let Some((line, _, _)) = open {
        panic!("{}:{line}: a quoted table is never closed with {CLOSE}", file.display());
    }
    found
}

#[test]
fn every_quoted_table_is_a_view_of_the_saved_race() {
    let root = workspace();
    let bless = std::env::var_os("MMLAB_BLESS_DOCS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    let mut count = 0;
    for file in documents(&root) {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut rewritten = text.clone();
        // Replaced from the end, so the earlier ranges stay valid.
        for quote in quotes(&file, &text).into_iter().rev() {
            count += 1;
            let expected = render(&root, &quote.args)
                .unwrap_or_else(|e| panic!("{}:{}: {e}", file.display(), quote.line));
            if text[quote.body.clone()] != expected {
                stale.push(format!("{}:{}: mdriver {}", file.display(), quote.line, quote.args));
                rewritten.replace_range(quote.body.clone(), &expected);
            }
        }
        if bless && rewritten != text {
            std::fs::write(&file, rewritten).unwrap();
        }
    }
    assert!(count >= 5, "only {count} quoted tables found: the README and the strategy pages quote the race");
    assert!(
        bless || stale.is_empty(),
        "these quoted tables differ from what their command prints from the saved race; run \
         `MMLAB_BLESS_DOCS=1 cargo test -p mdriver --test docs_tables` (or `just docs` to race again):\n{}",
        stale.join("\n")
    );
}

#[test]
fn quotes_are_found_with_their_arguments_and_bodies() {
    let text = "intro\n<!-- mdriver: --input docs/results/race.json -s buddy -->\n```text\nold\n```\n<!-- /mdriver -->\nafter\n";
    let found = quotes(Path::new("x.md"), text);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].line, found[0].args.as_str()), (2, "--input docs/results/race.json -s buddy"));
    assert_eq!(&text[found[0].body.clone()], "```text\nold\n```\n");
}
