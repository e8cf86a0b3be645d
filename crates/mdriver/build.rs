//! Embeds the bundled trace suite (`traces/*.rep` at the workspace root, then the traces
//! recorded from real programs, `traces/recorded/*.rep`) in the binary, so `mdriver`
//! runs it from any directory; and exports the memlib the C allocators it loads call.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    export_memlib();
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

/// Puts the memlib functions of `src/c/sys.rs` (`mem_sbrk`, ...) in the `mdriver`
/// binary's dynamic symbol table: a C allocator the driver loads with `dlopen` leaves
/// them undefined, and the loader resolves them there. Only these are exported (a
/// `--dynamic-list`, not `-rdynamic`), so no other symbol of the driver can capture a
/// name the C code uses for its own.
fn export_memlib() {
    let names = [
        "mem_init",
        "mem_deinit",
        "mem_sbrk",
        "mem_reset_brk",
        "mem_heap_lo",
        "mem_heap_hi",
        "mem_heapsize",
        "mem_pagesize",
    ];
    let mut list = String::from("{\n");
    for name in names {
        writeln!(list, "  {name};").expect("writing to a String cannot fail");
    }
    list.push_str("};\n");
    let path =
        PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("memlib-exports.list");
    std::fs::write(&path, list).expect("OUT_DIR is writable");
    if std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux") {
        println!("cargo::rustc-link-arg-bins=-Wl,--dynamic-list={}", path.display());
    }
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
