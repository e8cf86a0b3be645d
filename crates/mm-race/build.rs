//! Embeds the bundled trace suite (`traces/*.rep` at the workspace root, then the traces
//! recorded from real programs, `traces/recorded/*.rep`) in the crate, so `mdriver`
//! (and the benches) run it from any directory.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let traces = manifest.join("../../traces");
    println!("cargo::rerun-if-changed={}", traces.display());
    // The generated suite (traces/*.rep), then the traces recorded from real programs
    // (traces/recorded/*.rep), each sorted by name.
    let mut files = rep_files(&traces);
    let recorded = traces.join("recorded");
    println!("cargo::rerun-if-changed={}", recorded.display());
    files.extend(rep_files(&recorded));
    let mut code = String::from("/// The bundled suite: (file name, contents), sorted by name.\n");
    code.push_str("pub static BUNDLED_TRACES: &[(&str, &[u8])] = &[\n");
    for path in &files {
        println!("cargo::rerun-if-changed={}", path.display());
        // The path below traces/, e.g. `program-1.rep` or `recorded/gcc-cc1.rep`.
        let name = path.strip_prefix(&traces).expect("a listed trace is under traces/").to_string_lossy();
        let absolute = path.canonicalize().expect("a listed trace exists");
        writeln!(code, "    ({name:?}, include_bytes!({:?})),", absolute.display().to_string())
            .expect("writing to a String cannot fail");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("bundled.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}

/// The `.rep` files directly in `dir`, sorted by name (none if `dir` is missing).
fn rep_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|dir| {
            dir.filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|ext| ext == "rep"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}
