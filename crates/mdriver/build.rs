//! Exports the memlib the C allocators `mdriver` loads call (`mem_sbrk`, ...) from the
//! `mdriver` binary. (The bundled trace suite is embedded by `mm-race`'s build script.)

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    export_memlib();
}

/// Puts the memlib functions of `mm-race`'s `src/c/sys.rs` (`mem_sbrk`, ...) in the `mdriver`
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
