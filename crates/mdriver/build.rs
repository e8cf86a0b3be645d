//! Embeds the bundled trace suite (`traces/*.rep` at the workspace root) in the binary,
//! so `mdriver` runs it from any directory.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let traces = manifest.join("../../traces");
    println!("cargo::rerun-if-changed={}", traces.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&traces)
        .map(|dir| {
            dir.filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|ext| ext == "rep"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut code = String::from("/// The bundled suite: (file name, contents), sorted by name.\n");
    code.push_str("pub static BUNDLED_TRACES: &[(&str, &[u8])] = &[\n");
    for path in &files {
        println!("cargo::rerun-if-changed={}", path.display());
        let name = path.file_name().expect("a file has a name").to_string_lossy();
        let absolute = path.canonicalize().expect("a listed trace exists");
        writeln!(code, "    ({name:?}, include_bytes!({:?})),", absolute.display().to_string())
            .expect("writing to a String cannot fail");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("bundled.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
