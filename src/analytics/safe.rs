//! Spreadsheet safety: cells that a spreadsheet would run as a formula get a leading `'`.

use std::borrow::Cow;

/// Whether `cell` is a number a spreadsheet may read as one: an optional sign, digits with an
/// optional fraction, an optional exponent (`-12`, `+0.5`, `1e-3`).
fn is_number(cell: &str) -> bool {
    let b = cell.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let mut n = digits(&mut i);
    if b.get(i) == Some(&b'.') {
        i += 1;
        n += digits(&mut i);
    }
    if n == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Whether `cell` is a phone number in E.164: `+`, then 2 to 15 digits, the first not 0.
fn is_e164(cell: &str) -> bool {
    let Some(digits) = cell.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Makes a CSV cell safe to open in a spreadsheet (CSV injection): a cell starting with `=`,
/// `@`, a tab or a carriage return, or with `+` or `-` when it is neither a number nor an E.164
/// phone, gets a leading `'`, which spreadsheets take as "text" and do not show. A cell that
/// already starts with `'` gets one too, so that the prefix is always removable:
/// [`spreadsheet_unsafe`] takes exactly one leading `'` off a prefixed cell.
///
/// ```
/// use smsbatch::analytics::{spreadsheet_safe, spreadsheet_unsafe};
///
/// assert_eq!(spreadsheet_safe("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
/// assert_eq!(spreadsheet_safe("+447400123456"), "+447400123456");
/// assert_eq!(spreadsheet_safe("-12.5"), "-12.5");
/// assert_eq!(spreadsheet_safe("-1+2"), "'-1+2");
/// assert_eq!(spreadsheet_safe("Hello"), "Hello");
/// assert_eq!(spreadsheet_unsafe(&spreadsheet_safe("@SUM(A1)")), "@SUM(A1)");
/// assert_eq!(spreadsheet_unsafe(&spreadsheet_safe("'quoted")), "'quoted");
/// ```
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    let risky = match cell.as_bytes().first() {
        Some(b'=' | b'@' | b'\t' | b'\r' | b'\'') => true,
        Some(b'+' | b'-') => !is_number(cell) && !is_e164(cell),
        _ => false,
    };
    if risky {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Reverses [`spreadsheet_safe`]: the cell without the one leading `'` it added.
pub fn spreadsheet_unsafe(cell: &str) -> &str {
    cell.strip_prefix('\'').unwrap_or(cell)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_what_a_spreadsheet_would_evaluate() {
        for (cell, safe) in [
            ("=1+1", "'=1+1"),
            ("@cmd", "'@cmd"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("+", "'+"),
            ("-", "'-"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
            ("-2+3", "'-2+3"),
            ("+0123", "+0123"), // a number (leading zero and all)
            ("+44", "+44"),
            ("+1234567890123456", "+1234567890123456"), // too long for E.164, but a number
            ("-1e5", "-1e5"),
            ("1e", "1e"),
            ("'x", "''x"),
            ("", ""),
            ("a=b", "a=b"),
            (" =x", " =x"),
        ] {
            assert_eq!(spreadsheet_safe(cell), safe, "{cell:?}");
            assert_eq!(spreadsheet_unsafe(&spreadsheet_safe(cell)), cell);
        }
        assert!(is_e164("+447400123456"));
        assert!(!is_e164("+0447400123456"));
        assert!(!is_number("+"));
        assert!(!is_number("1.2.3"));
        assert!(is_number(".5"));
    }
}
