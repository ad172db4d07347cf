//! Removing terminal escape sequences from emulator output (Bochs' `term` display
//! writes some around the console text), so that the judge sees plain lines.

/// `text` without ANSI escape sequences: CSI (`ESC [` ... final byte), OSC
/// (`ESC ]` ... BEL or `ESC \`), character-set designations (`ESC (` + one
/// character) and two-byte escapes (`ESC` + one character).
pub fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            Some('(' | ')' | '*' | '+') => {
                chars.next();
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_go_and_text_stays() {
        assert_eq!(strip("plain text\r\n"), "plain text\r\n");
        assert_eq!(
            strip("\u{1b}[?1049h\u{1b}[1;1Hminivisor: \u{1b}[0mPASS\u{1b}[K\n"),
            "minivisor: PASS\n"
        );
        assert_eq!(strip("\u{1b}]0;title\u{7}a\u{1b}]2;t\u{1b}\\b"), "ab");
        assert_eq!(strip("\u{1b}(Bx\u{1b}=y"), "xy");
        assert_eq!(strip("cut \u{1b}["), "cut ");
    }
}
