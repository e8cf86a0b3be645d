//! Naming C allocators on the command line: `-s c:PATH`, the patterns a shell leaves as
//! they are, and the names the allocators get in the tables.
//!
//! `c:submissions/*/mm.c` is one word to the shell, and one that names no file (there is
//! no directory `c:submissions`), so the shell passes it on unexpanded; the driver
//! expands it ([`expand`]), with `*`, `?` and `[...]` in any component, as the shell
//! would have. Each allocator is then named ([`names`]) by its file stem, or by its
//! directory when the stem says nothing (`alice/mm.c` is `alice`); where two names
//! would be the same, or one would be the name of a strategy of ours, longer parts of
//! the path tell them apart (`a/x/mm.c` and `b/x/mm.c` are `a/x/mm.c` and `b/x/mm.c`;
//! `implicit.c` is `implicit.c`, not our `implicit`).

use std::path::{Component, Path, PathBuf};

/// What marks a strategy name as a C allocator.
pub const PREFIX: &str = "c:";

/// The path of a `c:PATH` name, or `None` for a name that is not one.
pub fn path_of(spec: &str) -> Option<&str> {
    spec.strip_prefix(PREFIX)
}

/// What a file of a C allocator is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A C source file, compiled by the driver.
    Source,
    /// A shared object, loaded as it is.
    Object,
}

/// The kind of file `path` is, by its extension.
pub fn kind(path: &Path) -> Result<Kind, String> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("c") => Ok(Kind::Source),
        Some("so") => Ok(Kind::Object),
        _ => Err(format!(
            "{}{}: a C allocator is a C source file (.c) or a shared object (.so)",
            PREFIX,
            path.display()
        )),
    }
}

fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?', '['])
}

/// Whether `name` matches the shell pattern `pattern` (`*`, `?`, `[abc]`, `[a-z]`,
/// `[!a]`), as one path component.
pub fn matches(pattern: &str, name: &str) -> bool {
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        // p[0] is '['; returns (matched, length of the class) or None if unclosed.
        let mut i = 1;
        let negate = matches!(p.get(i), Some('!' | '^'));
        if negate {
            i += 1;
        }
        let mut hit = false;
        let mut first = true;
        while i < p.len() && (p[i] != ']' || first) {
            if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                hit |= p[i] <= c && c <= p[i + 2];
                i += 3;
            } else {
                hit |= p[i] == c;
                i += 1;
            }
            first = false;
        }
        (i < p.len()).then_some((hit != negate, i + 1))
    }
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|k| go(&p[1..], &n[k..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => match (class(p, *n.first().unwrap_or(&'\0')), n.is_empty()) {
                (_, true) => false,
                (Some((true, len)), false) => go(&p[len..], &n[1..]),
                (Some((false, _)), false) => false,
                (None, false) => n[0] == '[' && go(&p[1..], &n[1..]),
            },
            Some(&c) => n.first() == Some(&c) && go(&p[1..], &n[1..]),
        }
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    go(&p, &n)
}

/// The files `pattern` names: itself when it has no wildcard, else every file it
/// matches, sorted (hidden files only when the component's pattern starts with `.`).
/// An error when nothing matches, or a file is not a `.c` or `.so`.
pub fn expand(pattern: &str) -> Result<Vec<PathBuf>, String> {
    if pattern.is_empty() {
        return Err(format!("{PREFIX}: the path of a C allocator is missing (c:PATH, e.g. c:mm.c)"));
    }
    let files: Vec<PathBuf> = if !has_wildcard(pattern) {
        let path = PathBuf::from(pattern);
        if !path.is_file() {
            return Err(format!("{PREFIX}{pattern}: no such file"));
        }
        vec![path]
    } else {
        let mut found = vec![if pattern.starts_with('/') { PathBuf::from("/") } else { PathBuf::new() }];
        for component in pattern.split('/').filter(|c| !c.is_empty()) {
            let mut next = Vec::new();
            for dir in &found {
                if !has_wildcard(component) {
                    let path = dir.join(component);
                    if path.exists() {
                        next.push(path);
                    }
                    continue;
                }
                let listed = if dir.as_os_str().is_empty() { Path::new(".") } else { dir.as_path() };
                let Ok(entries) = std::fs::read_dir(listed) else { continue };
                let mut names: Vec<String> = entries
                    .filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|name| !name.starts_with('.') || component.starts_with('.'))
                    .filter(|name| matches(component, name))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|name| dir.join(name)));
            }
            found = next;
        }
        found.retain(|p| p.is_file());
        if found.is_empty() {
            return Err(format!("{PREFIX}{pattern}: no file matches"));
        }
        found
    };
    for file in &files {
        kind(file)?;
    }
    Ok(files)
}

/// The names a path could be known by, shortest first: the stem (or the directory, for
/// `mm.c`), then the file name, then the path's last 2, 3, ... components, then the
/// whole path. `lib` is dropped from the front of a shared object's stem.
fn candidates(path: &Path) -> Vec<String> {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let whole = path.display().to_string();
    let Some(file) = parts.last() else { return vec![whole] };
    let mut stem = Path::new(file).file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    if path.extension().is_some_and(|e| e == "so")
        && let Some(rest) = stem.strip_prefix("lib").filter(|r| !r.is_empty())
    {
        stem = rest.to_owned();
    }
    let generic = stem == "mm" && parts.len() >= 2;
    let mut out = vec![if generic { parts[parts.len() - 2].clone() } else { stem }];
    for k in (if generic { 2 } else { 1 })..=parts.len() {
        out.push(parts[parts.len() - k..].join("/"));
    }
    out.push(whole);
    out.dedup();
    out
}

/// A unique name for each of `paths` (distinct files, best given canonical), none of
/// them in `reserved` (the names of the other strategies): see the module docs.
pub fn names(paths: &[PathBuf], reserved: &[&str]) -> Vec<String> {
    let candidates: Vec<Vec<String>> = paths.iter().map(|p| candidates(p)).collect();
    let mut level = vec![0usize; paths.len()];
    let name = |level: &[usize], i: usize| candidates[i][level[i]].clone();
    loop {
        let current: Vec<String> = (0..paths.len()).map(|i| name(&level, i)).collect();
        let clashing: Vec<usize> = (0..paths.len())
            .filter(|&i| {
                let taken = reserved.contains(&current[i].as_str())
                    || current.iter().enumerate().any(|(j, other)| j != i && *other == current[i]);
                taken && level[i] + 1 < candidates[i].len()
            })
            .collect();
        if clashing.is_empty() {
            break;
        }
        for i in clashing {
            level[i] += 1;
        }
    }
    // Only the same path given twice can still clash: number the repeats.
    let mut out: Vec<String> = Vec::with_capacity(paths.len());
    for i in 0..paths.len() {
        let base = name(&level, i);
        let mut unique = base.clone();
        let mut n = 2;
        while out.contains(&unique) || reserved.contains(&unique.as_str()) {
            unique = format!("{base}#{n}");
            n += 1;
        }
        out.push(unique);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(paths: &[&str], reserved: &[&str]) -> Vec<String> {
        names(&paths.iter().map(PathBuf::from).collect::<Vec<_>>(), reserved)
    }

    #[test]
    fn stems_then_directories_then_longer_paths() {
        assert_eq!(named(&["/s/alice/mm.c", "/s/bob/mm.c", "/x/carol.c"], &[]), ["alice", "bob", "carol"]);
        assert_eq!(named(&["/a/x/mm.c", "/b/x/mm.c"], &[]), ["a/x/mm.c", "b/x/mm.c"]);
        assert_eq!(named(&["/s/alice/mm.c", "/t/alice.c"], &[]), ["alice/mm.c", "alice.c"]);
        assert_eq!(named(&["/d/alice.c", "/d/alice.so"], &[]), ["alice.c", "alice.so"]);
        assert_eq!(named(&["/d/libfast.so", "/mm.c"], &[]), ["fast", "mm"]);
    }

    #[test]
    fn the_names_of_our_strategies_are_not_taken() {
        assert_eq!(
            named(&["/f/implicit.c", "/g/libc/mm.c"], &["implicit", "libc"]),
            ["implicit.c", "libc/mm.c"]
        );
        assert_eq!(named(&["/implicit"], &["implicit", "/implicit"]), ["/implicit#2"]);
    }

    #[test]
    fn patterns_match_as_the_shell_does() {
        assert!(matches("*.c", "mm.c"));
        assert!(!matches("*.c", "mm.h"));
        assert!(matches("m?.c", "mm.c"));
        assert!(matches("[a-c]*", "bob"));
        assert!(!matches("[!a-c]*", "bob"));
        assert!(matches("[]x]", "]"));
        assert!(matches("a[", "a["));
        assert!(!matches("?", ""));
        assert!(matches("*", ""));
    }

    #[test]
    fn a_pattern_is_expanded_and_sorted() {
        let dir = std::env::temp_dir().join(format!("mdriver-spec-{}", std::process::id()));
        for who in ["bob", "alice", ".hidden", "empty"] {
            std::fs::create_dir_all(dir.join(who)).unwrap();
            if who != "empty" {
                std::fs::write(dir.join(who).join("mm.c"), "").unwrap();
            }
        }
        let pattern = format!("{}/*/mm.c", dir.display());
        let found = expand(&pattern).unwrap();
        assert_eq!(found, [dir.join("alice/mm.c"), dir.join("bob/mm.c")]);
        let none = expand(&format!("{}/*/nope.c", dir.display())).unwrap_err();
        assert!(none.ends_with("nope.c: no file matches"), "{none}");
        assert!(expand(&format!("{}/alice", dir.display())).unwrap_err().ends_with("no such file"));
        std::fs::write(dir.join("notes.txt"), "").unwrap();
        let wrong = expand(&format!("{}/notes.txt", dir.display())).unwrap_err();
        assert!(wrong.ends_with("a C allocator is a C source file (.c) or a shared object (.so)"), "{wrong}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
