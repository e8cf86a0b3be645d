//! Compiling an `mm.c` into a shared object the race can load.
//!
//! The system C compiler (`$CC`, else `cc`; `$CC` may carry arguments, as in
//! `CC="ccache gcc"`) builds the file with `-O2 -fPIC -shared` against the classic
//! headers. The headers are built into the driver and written beside the output, so a
//! driver binary works away from its checkout; a file's own `mm.h` or `memlib.h` next to
//! it (a handout's copy) still comes first, as C's `#include "..."` goes. memlib is left
//! undefined in the object: the driver provides it when it loads the object.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `include/mm.h`, as the driver was built with it.
pub const MM_H: &str = include_str!("../../../../include/mm.h");
/// `include/memlib.h`, as the driver was built with it.
pub const MEMLIB_H: &str = include_str!("../../../../include/memlib.h");

/// The flags every source is compiled with (before `-I`, `-o` and the file).
pub const FLAGS: [&str; 3] = ["-O2", "-fPIC", "-shared"];

/// A compilation that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// The command, as a shell would show it.
    pub command: String,
    /// What went wrong: the compiler's own message, or why it could not run.
    pub message: String,
}

impl CompileError {
    /// The compiler's first line naming an error (else its first line), for a table.
    pub fn first_error(&self) -> &str {
        let lines = || self.message.lines().map(str::trim).filter(|l| !l.is_empty());
        lines().find(|l| l.contains("error")).or_else(|| lines().next()).unwrap_or("(no message)")
    }
}

/// The compiler command: `$CC` split at blanks, else `cc`.
fn compiler() -> Vec<String> {
    let words: Vec<String> =
        std::env::var("CC").unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    if words.is_empty() { vec!["cc".to_owned()] } else { words }
}

/// Compiles `source` into `out_dir/<stem>.so` (the headers go into `out_dir/include`)
/// and returns the object's path.
pub fn compile(source: &Path, out_dir: &Path, stem: &str) -> Result<PathBuf, CompileError> {
    let include = out_dir.join("include");
    let object = out_dir.join(format!("{stem}.so"));
    let cc = compiler();
    let mut command = Command::new(&cc[0]);
    command.args(&cc[1..]).args(FLAGS).arg("-I").arg(&include).arg("-o").arg(&object).arg(source);
    let shown = std::iter::once(cc.join(" "))
        .chain(FLAGS.iter().map(|f| (*f).to_owned()))
        .chain([
            "-I".to_owned(),
            include.display().to_string(),
            "-o".to_owned(),
            object.display().to_string(),
        ])
        .chain([source.display().to_string()])
        .collect::<Vec<_>>()
        .join(" ");
    let fail = |message: String| CompileError { command: shown.clone(), message };
    std::fs::create_dir_all(&include)
        .and_then(|()| std::fs::write(include.join("mm.h"), MM_H))
        .and_then(|()| std::fs::write(include.join("memlib.h"), MEMLIB_H))
        .map_err(|e| fail(format!("cannot write the headers into {}: {e}", include.display())))?;
    let output = command.output().map_err(|e| {
        fail(format!("cannot run the C compiler `{}`: {e} (install one, or name it in $CC)", cc[0]))
    })?;
    if !output.status.success() {
        let mut message = String::from_utf8_lossy(&output.stderr).into_owned();
        message.push_str(&String::from_utf8_lossy(&output.stdout));
        if message.trim().is_empty() {
            message = format!("the compiler failed ({}) and said nothing", output.status);
        }
        return Err(fail(message));
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_error_line_is_picked() {
        let e = CompileError {
            command: "cc".to_owned(),
            message: "x.c: In function 'f':\nx.c:3:1: error: expected ';'\nx.c:4:1: error: again\n"
                .to_owned(),
        };
        assert_eq!(e.first_error(), "x.c:3:1: error: expected ';'");
        let e =
            CompileError { command: "cc".to_owned(), message: "\n  collect2: ld returned 1\n".to_owned() };
        assert_eq!(e.first_error(), "collect2: ld returned 1");
    }
}
