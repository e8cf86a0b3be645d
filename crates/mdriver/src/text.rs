//! Fitting mdriver's text output to a terminal's width.
//!
//! Everything mdriver prints as text on stdout (the race's tables, the policy list of
//! `-v`, the errors, `mdriver list`) is laid out for a terminal [`WIDTH`] columns wide,
//! whatever the number of strategies raced or the length of the trace names: tables too
//! wide are split into blocks of columns by [`crate::report`], and free text is wrapped
//! here with a hanging indent, so that no line folds in the terminal and breaks a
//! table's columns. Widths are counted in `char`s: the names and descriptions mdriver
//! prints are ASCII, and a wider character (CJK in a trace's file name) only makes its
//! own line longer on screen.

/// The columns of the terminal the text output is laid out for.
pub const WIDTH: usize = 120;

/// The columns `s` takes, counting one per `char`.
pub fn columns(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to at most `max` columns, its middle replaced by `…` if it is longer: the
/// start and the end of a name (a path's directory and its file) are the parts that
/// tell it from its neighbours.
pub fn cut_middle(s: &str, max: usize) -> String {
    let len = columns(s);
    if len <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let kept = max - 1;
    let head = kept.div_ceil(2);
    let tail = kept - head;
    let mut cut: String = s.chars().take(head).collect();
    cut.push('…');
    cut.extend(s.chars().skip(len - tail));
    cut
}

/// `text` written after `first`, wrapped at `width` columns, every further line indented
/// by `indent` spaces (a hanging indent: `first` is typically a name padded to the
/// column where the text starts, and `indent` that column).
///
/// Words are kept whole where they fit on a line; a word longer than a whole line (a
/// long path in an error message) is broken across lines, so that no line is ever
/// longer than `width` unless `first` itself is. Runs of whitespace in `text` become
/// one space. The lines carry no trailing whitespace and no newline.
pub fn wrap(first: &str, text: &str, indent: usize, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_owned();
    let mut len = columns(first);
    // Whether `line` holds a word yet (a separating space is then needed).
    let mut has_word = false;
    for word in text.split_whitespace() {
        let mut word = word;
        while !word.is_empty() {
            let word_len = columns(word);
            let space = usize::from(has_word);
            if len + space + word_len <= width {
                if has_word {
                    line.push(' ');
                }
                line.push_str(word);
                len += space + word_len;
                has_word = true;
                break;
            }
            // It does not fit after what the line holds: a fresh line may take it.
            if has_word || (len > indent && indent + word_len <= width) {
                lines.push(line.trim_end().to_owned());
                line = " ".repeat(indent);
                len = indent;
                has_word = false;
                continue;
            }
            // Longer than a whole line: as much of it as fits, the rest on the next.
            let room = width.saturating_sub(len).max(1);
            let split = word.char_indices().nth(room).map_or(word.len(), |(i, _)| i);
            line.push_str(&word[..split]);
            lines.push(line);
            line = " ".repeat(indent);
            len = indent;
            word = &word[split..];
        }
    }
    if has_word || lines.is_empty() {
        lines.push(line.trim_end().to_owned());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_stays_on_one_line() {
        assert_eq!(wrap("  name  ", "a short  description", 8, 40), ["  name  a short description"]);
        assert_eq!(wrap("  name", "", 8, 40), ["  name"]);
    }

    #[test]
    fn long_text_wraps_under_its_first_word() {
        let text = "one two three four five six seven eight nine ten";
        let lines = wrap("  name  ", text, 8, 30);
        assert_eq!(lines, ["  name  one two three four", "        five six seven eight", "        nine ten"]);
        assert!(lines.iter().all(|l| columns(l) <= 30));
    }

    #[test]
    fn a_word_longer_than_a_line_is_broken() {
        let path = "/a/very/long/path/to/a/trace/file.rep";
        let lines = wrap("  ", &format!("trace {path}: bad"), 4, 20);
        assert!(lines.iter().all(|l| columns(l) <= 20), "{lines:?}");
        let joined: String = lines.iter().map(|l| l.trim_start()).collect();
        assert_eq!(joined, format!("trace{path}: bad"), "nothing is lost: {lines:?}");
    }

    #[test]
    fn a_long_first_part_moves_the_text_to_the_next_line() {
        let lines = wrap("  a-very-long-name ", "text", 4, 12);
        assert_eq!(lines, ["  a-very-long-name", "    text"]);
    }

    #[test]
    fn cutting_keeps_both_ends() {
        assert_eq!(cut_middle("short", 10), "short");
        assert_eq!(cut_middle("/tmp/some/dir/d1/x", 9), "/tmp…d1/x");
        assert_eq!(columns(&cut_middle("/tmp/some/dir/d1/x", 9)), 9);
        assert_eq!(cut_middle("abc", 1), "…");
    }
}
