//! Hostile input for the trace parser: seeded mutations of real traces and of one in
//! the later CMU style, with reused ids and null ops (truncations, flipped bytes, huge
//! and negative numbers, ids out of range or made null, double frees, binary garbage,
//! overlong lines, reordered and duplicated lines), and a handful of hand-made
//! extremes. The parser must never panic, and every rejection must name a
//! line of the input; whatever it accepts must be a valid trace.
//!
//! The seed and the number of mutants come from `MMLAB_FUZZ_SEED` and
//! `MMLAB_FUZZ_MUTANTS` (default: a fixed seed, 3 000 mutants); a failure prints the
//! seed, the mutant's number and how it was made, so it can be replayed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use mm_trace::workload::{Workload, generate};
use mm_trace::{Trace, TraceError};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A trace as the lab's later edition writes them: the weight-first header, ids freed and
/// allocated again, `f -1`, `r -1 n`, `r` of a dead id and `r id 0`.
const REUSE_AND_NULLS: &str = "1\n3\n16\n0\na 0 16\na 1 8\nf 0\nf -1\na 0 40\nr 1 24\nr -1 12\nf 1\nr 1 5\n\
                               r 2 0\nr 0 0\na 0 7\nf -1\nr 2 9\nf 0\nf 2\n";

/// Valid traces to mutate: a few bundled ones, small generated ones, and one with the
/// later edition's features.
fn seeds() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../traces");
    let mut inputs: Vec<Vec<u8>> = ["coalesce-1.rep", "realloc-shrink-1.rep", "tiny-1.rep"]
        .iter()
        .map(|name| std::fs::read(dir.join(name)).unwrap())
        .collect();
    for (i, workload) in Workload::ALL.iter().enumerate() {
        inputs.push(generate(*workload, i as u64, 60).to_rep_string().into_bytes());
    }
    Trace::parse("reuse-and-nulls.rep", REUSE_AND_NULLS.as_bytes()).expect("the seed is a valid trace");
    inputs.push(REUSE_AND_NULLS.as_bytes().to_vec());
    inputs
}

/// A number a careless parser would choke on.
fn nasty_number(rng: &mut ChaCha8Rng) -> String {
    let choices = [
        "18446744073709551615".to_owned(), // usize::MAX
        "18446744073709551616".to_owned(), // usize::MAX + 1
        "99999999999999999999999999999999".to_owned(),
        "-1".to_owned(),
        "-18446744073709551615".to_owned(),
        "+7".to_owned(),
        "0x10".to_owned(),
        "1e9".to_owned(),
        "3.5".to_owned(),
        "".to_owned(),
        "٣".to_owned(), // a non-ASCII digit
        format!("{}", rng.random::<u64>()),
        format!("{}", usize::MAX / 2 + rng.random_range(0..16usize)),
    ];
    choices[rng.random_range(0..choices.len())].clone()
}

/// One mutation of `input`, and a description of it for failure messages.
fn mutate(input: &[u8], rng: &mut ChaCha8Rng) -> (Vec<u8>, String) {
    let mut lines: Vec<Vec<u8>> = input.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    let pick = |rng: &mut ChaCha8Rng, n: usize| rng.random_range(0..n.max(1));
    let kind = rng.random_range(0..12);
    let what = match kind {
        0 => {
            let at = pick(rng, input.len());
            return (input[..at].to_vec(), format!("truncated at byte {at}"));
        }
        1 => {
            let mut bytes = input.to_vec();
            let flips = rng.random_range(1..8);
            for _ in 0..flips {
                let at = pick(rng, bytes.len());
                bytes[at] = rng.random();
            }
            return (bytes, format!("{flips} random bytes"));
        }
        2 => {
            // Replace one field of one line with a nasty number.
            let line = pick(rng, lines.len());
            let mut fields: Vec<String> =
                String::from_utf8_lossy(&lines[line]).split(' ').map(str::to_owned).collect();
            let field = pick(rng, fields.len());
            fields[field] = nasty_number(rng);
            lines[line] = fields.join(" ").into_bytes();
            format!("line {} field {field} replaced", line + 1)
        }
        3 => {
            // An id at or past num_ids.
            let line = 4 + pick(rng, lines.len().saturating_sub(4));
            let text = String::from_utf8_lossy(lines.get(line).map_or(&[][..], |l| l)).into_owned();
            let mut fields: Vec<&str> = text.split(' ').collect();
            let big = format!("{}", 1_000_000 + rng.random_range(0..1000));
            if fields.len() > 1 {
                fields[1] = &big;
            }
            if line < lines.len() {
                lines[line] = fields.join(" ").into_bytes();
            }
            format!("line {} id out of range", line + 1)
        }
        4 => {
            // Repeat a free (a double free) or an allocation somewhere later.
            let ops: Vec<usize> =
                (4..lines.len()).filter(|&i| lines[i].first().is_some_and(|b| b"af".contains(b))).collect();
            if ops.is_empty() {
                return (input.to_vec(), "unchanged".into());
            }
            let from = ops[pick(rng, ops.len())];
            let to = rng.random_range(from..lines.len());
            let copy = lines[from].clone();
            lines.insert(to + 1, copy);
            format!("line {} repeated after line {}", from + 1, to + 1)
        }
        5 => {
            let at = pick(rng, lines.len());
            let garbage: Vec<u8> = (0..rng.random_range(1..64)).map(|_| rng.random()).collect();
            lines.insert(at, garbage);
            format!("binary garbage before line {}", at + 1)
        }
        6 => {
            let at = pick(rng, lines.len());
            let long = if rng.random_bool(0.5) { vec![b'7'; 300_000] } else { vec![b' '; 300_000] };
            lines.insert(at, long);
            format!("overlong line before line {}", at + 1)
        }
        7 => {
            let at = pick(rng, lines.len());
            lines.remove(at);
            format!("line {} deleted", at + 1)
        }
        8 => {
            let (a, b) = (pick(rng, lines.len()), pick(rng, lines.len()));
            lines.swap(a, b);
            format!("lines {} and {} swapped", a + 1, b + 1)
        }
        9 => {
            // A header field made enormous: a parser must not size anything by it.
            let field = pick(rng, 4.min(lines.len()));
            lines[field] = nasty_number(rng).into_bytes();
            format!("header line {} replaced", field + 1)
        }
        10 => {
            // An id made the null pointer (legal for `f` and `r`, not for `a`).
            let line = 4 + pick(rng, lines.len().saturating_sub(4));
            let text = String::from_utf8_lossy(lines.get(line).map_or(&[][..], |l| l)).into_owned();
            let mut fields: Vec<&str> = text.split(' ').collect();
            if fields.len() > 1 && line < lines.len() {
                fields[1] = "-1";
                lines[line] = fields.join(" ").into_bytes();
            }
            format!("line {} id made -1", line + 1)
        }
        _ => {
            let joined = lines.join(&b"\r\n"[..]);
            return (joined, "CRLF line endings".into());
        }
    };
    (lines.join(&b'\n'), what)
}

/// Parses `bytes`; panics with `context` if the parser panics, or rejects the input
/// without naming a line inside it, or accepts an invalid trace.
fn check(bytes: &[u8], context: &str) -> Result<Trace, TraceError> {
    let parsed = catch_unwind(AssertUnwindSafe(|| Trace::parse("mutant.rep", bytes)))
        .unwrap_or_else(|_| panic!("the parser panicked on {context}"));
    let lines = bytes.split(|&b| b == b'\n').count();
    match &parsed {
        Ok(trace) => {
            trace.validate().unwrap_or_else(|e| panic!("accepted an invalid trace ({context}): {e}"));
        }
        Err(e) => {
            let line = e.line().unwrap_or_else(|| panic!("rejection without a line ({context}): {e}"));
            assert!(
                (1..=lines + 1).contains(&line),
                "line {line} is not in the input of {lines} lines ({context}): {e}"
            );
            assert!(e.to_string().starts_with(&format!("mutant.rep:{line}: ")), "{e}");
        }
    }
    parsed
}

#[test]
fn seeded_mutants_never_panic_and_every_rejection_names_a_line() {
    let seed = env_or("MMLAB_FUZZ_SEED", 0x7ace_f00d);
    let mutants = env_or("MMLAB_FUZZ_MUTANTS", 3000);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let inputs = seeds();
    let (mut accepted, mut rejected) = (0, 0);
    for n in 0..mutants {
        let input = &inputs[rng.random_range(0..inputs.len())];
        let (bytes, what) = mutate(input, &mut rng);
        match check(&bytes, &format!("mutant {n} of seed {seed:#x} ({what})")) {
            Ok(_) => accepted += 1,
            Err(_) => rejected += 1,
        }
    }
    eprintln!(
        "{mutants} mutants of seed {seed:#x}: {rejected} rejected with a line, {accepted} accepted as valid"
    );
    // Most mutations break a trace; a parser that accepted nearly everything would not
    // be checking.
    assert!(rejected > mutants / 2, "only {rejected} of {mutants} mutants rejected");
}

#[test]
fn extremes_are_rejected_with_a_line() {
    let cases: [(&str, &[u8], usize); 12] = [
        ("empty file", b"", 1),
        ("header only (names the num_ops line)", b"100\n1\n1\n1\n", 3),
        ("huge num_ids", b"100\n18446744073709551615\n1\n1\na 0 8\n", 2),
        ("huge num_ops", b"100\n1\n18446744073709551615\n1\na 0 8\nf 0\n", 0),
        ("negative size", b"100\n1\n1\n1\na 0 -8\n", 5),
        ("size past usize", b"100\n1\n1\n1\na 0 18446744073709551616\n", 5),
        ("double free", b"100\n1\n3\n1\na 0 8\nf 0\nf 0\n", 7),
        ("double free of a reused id", b"1\n1\n5\n0\na 0 8\nf 0\nr 0 8\nr 0 0\nf 0\n", 9),
        ("alloc of a live id", b"100\n1\n2\n1\na 0 8\na 0 8\n", 6),
        ("alloc of null", b"100\n1\n1\n1\na -1 8\n", 5),
        ("binary", b"\x00\xff\xfe\x7f\n\x80\n", 1),
        ("NUL inside a number", b"100\n1\n1\n1\na 0 1\x002\n", 5),
    ];
    for (what, bytes, expected_line) in cases {
        let result = check(bytes, what);
        match result {
            // `0` marks cases that may be accepted or rejected, as long as nothing panics
            // or allocates by the header's word.
            Ok(_) => assert_eq!(expected_line, 0, "{what}: accepted"),
            Err(e) if expected_line != 0 => assert_eq!(e.line(), Some(expected_line), "{what}: {e}"),
            Err(_) => {}
        }
    }
}

/// The header's counts are claims: the parser must not size anything by them, nor by
/// the largest id an op names. Before it kept its id states in a map, the second and
/// third files here made it allocate a terabyte (and abort); a `num_ids` that no
/// trace of that length could use is rejected on its own line.
#[test]
fn a_huge_id_costs_the_parser_nothing() {
    // The hostile huge-num-ids.rep: num_ids 10^12 for two operations.
    let huge_num_ids = b"20000\n1000000000000\n2\n1\na 0 8\nf 0\n";
    let e = check(huge_num_ids, "huge num_ids").unwrap_err();
    assert_eq!(e.line(), Some(2), "{e}");
    assert!(e.to_string().contains("num_ids 1000000000000 is implausible for 2 operations"), "{e}");

    // num_ids 10^12, one op on id 10^12 - 1: 37 bytes.
    let huge_id = b"0\n1000000000000\n1\n1\na 999999999999 8\n";
    assert_eq!(huge_id.len(), 37);
    let e = check(huge_id, "a huge id").unwrap_err();
    assert_eq!(e.line(), Some(2), "{e}");

    // With num_ops lying too, num_ids passes the header's own test; the file ends long
    // before the ops it announces, and the huge id costs one entry.
    let both_lie = b"0\n1000000000000\n1000000000000\n1\na 999999999999 8\n";
    let e = check(both_lie, "num_ids and num_ops both lie").unwrap_err();
    assert_eq!(e.line(), Some(3), "{e}");

    // An id near the top of what num_ids allows is legal, and costs one entry too.
    let high_id = b"0\n65536\n2\n1\na 65535 8\nf 65535\n";
    let trace = check(high_id, "a high id").expect("an id inside num_ids is legal");
    assert_eq!(trace.id_bound(), 65536);
}
