//! Identifiers the API takes from callers: member (project, account,
//! organization) IDs and the project IDs of Huawei's calls.
//!
//! An ID is 1 to 255 characters (the width of Glance's column), each an ASCII
//! letter or digit or one of `-` `_` `.` `:` `@` `/`. That covers Keystone's
//! IDs (hex, or any name-like ID a deployment uses), Huawei's 32-hex project
//! and account IDs and its Organizations URNs
//! (`organizations::<account>:ou:o-…/ou-…`). Nothing else is an ID: control
//! and format characters (zero-width, bidi overrides), whitespace anywhere
//! (leading and trailing included) and every non-ASCII character, so that a
//! member ID can neither hide nor impersonate another on a screen
//! (`ｐｒｏｊＡ` is not `projA`). IDs compare exactly: `PROJA` is another
//! project than `projA`.

/// The longest ID accepted.
pub const ID_MAX_CHARS: usize = 255;

/// The rule as the OpenAPI document states it.
pub const ID_PATTERN: &str = "^[A-Za-z0-9._:@/-]{1,255}$";

/// What a refusal says of the rule.
pub const ID_RULE: &str = "1 to 255 characters, each an ASCII letter or digit or one of \
                           - _ . : @ / (no spaces, control or non-ASCII characters)";

fn allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'@' | b'/')
}

/// True when `id` follows the rule.
pub fn is_valid(id: &str) -> bool {
    !id.is_empty() && id.len() <= ID_MAX_CHARS && id.bytes().all(allowed)
}

/// `id` as a refusal may quote it: ASCII only, every other character
/// escaped (`\u{202e}`), at most 64 characters shown.
pub fn quoted(id: &str) -> String {
    let mut out = String::from("\"");
    for (i, c) in id.chars().enumerate() {
        if i == 64 {
            out.push_str("...");
            break;
        }
        if c.is_ascii_graphic() && c != '"' && c != '\\' {
            out.push(c);
        } else if c == ' ' {
            out.push(' ');
        } else {
            out.extend(c.escape_unicode());
        }
    }
    out.push('"');
    out
}

/// The refusal for an ID that breaks the rule, naming what it is.
pub fn refusal(what: &str, id: &str) -> String {
    format!("{what} {} is not a valid ID: {ID_RULE}.", quoted(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule() {
        for ok in [
            "projA",
            "PROJA",
            "0123456789abcdef0123456789abcdef",
            "organizations::0a6d25d2:ou:o-fhfmsf/ou-fjlsdf",
            "user@example.com",
            "a.b_c-d",
            &"x".repeat(255),
        ] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            " projA",
            "projA ",
            "proj A",
            "proj\u{0}A",
            "proj\tA",
            "proj\u{1b}[31mA",
            "proj\u{200b}A",
            "proj\u{202e}A",
            "ｐｒｏｊＡ",
            "projé",
            "proj\"A",
            "proj\\A",
            "proj%A",
            &"x".repeat(256),
        ] {
            assert!(!is_valid(bad), "{bad:?}");
        }
    }

    #[test]
    fn quoting_shows_what_hides() {
        assert_eq!(quoted("a\u{202e}b"), "\"a\\u{202e}b\"");
        assert_eq!(quoted("a\u{0}b"), "\"a\\u{0}b\"");
        assert_eq!(quoted("ｐ"), "\"\\u{ff50}\"");
        assert!(quoted(&"y".repeat(100)).ends_with("...\""));
    }
}
