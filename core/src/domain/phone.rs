//! Phone numbers: mainland mobile numbers and landlines with their area code.
//!
//! What a manager types (or a contact card holds) is first brought to one canonical form by
//! [`normalize`]: full-width digits made ASCII, spaces, dashes and brackets dropped, a `+86` /
//! `0086` / `86` country prefix removed, and a landline written `area-number`. [`validate`] then
//! accepts only canonical numbers of a real shape, so two spellings of one number are one number
//! (which duplicate detection relies on).
//!
//! Shapes (GB/T 13371 numbering): a mobile is `1[3-9]` and 9 more digits; a landline is a
//! three-digit area code (`010`, `02x`) with an 8-digit local number, or a four-digit one
//! (`0[3-9]xx`) with a 7- or 8-digit local number; local numbers never start with 0 or 1.

use super::error::{Checked, Problem, ValidationError};

/// The canonical form of a typed number: ASCII digits, a landline as `0AAA-NNNNNNNN`. Leaves
/// what it cannot read as a number (letters, a second `+`) for [`validate`] to refuse.
pub fn normalize(raw: &str) -> String {
    let mut s = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '０'..='９' => s.push(char::from(b'0' + (c as u32 - '０' as u32) as u8)),
            '＋' => s.push('+'),
            // Separators people type or paste: spaces (also the ideographic one and NBSP), dashes
            // of every width, dots and brackets around an area code.
            ' ' | '\u{3000}' | '\u{a0}' | '\t' | '-' | '－' | '—' | '–' | '.' | '(' | ')' | '（' | '）' => {}
            c => s.push(c),
        }
    }
    if !s.trim_start_matches('+').bytes().all(|b| b.is_ascii_digit()) || s.matches('+').count() > 1 {
        return s;
    }
    let digits = if let Some(rest) = s.strip_prefix("+86").or_else(|| s.strip_prefix("0086")) {
        // International form: a landline drops its trunk 0 (+86 10 …), a mobile has none.
        if rest.starts_with('1') && rest.len() == 11 { rest.to_string() } else { format!("0{rest}") }
    } else if let Some(rest) = s.strip_prefix("86").filter(|r| r.len() == 11 && is_mobile(r.as_bytes())) {
        rest.to_string()
    } else {
        s
    };
    match area_code_len(digits.as_bytes()) {
        Some(n) if digits.len() > n && !is_mobile(digits.as_bytes()) => format!("{}-{}", &digits[..n], &digits[n..]),
        _ => digits,
    }
}

/// Accepts a canonical mobile number or landline (see [`normalize`]). The problem says which kind
/// of number was expected: a mobile's when the value starts with 1, a landline's when it starts
/// with 0.
pub fn validate(field: &str, phone: &str) -> Checked {
    let b = phone.as_bytes();
    if is_mobile(b) || is_landline(b) {
        return Ok(());
    }
    let problem = match b.first() {
        Some(b'1') => Problem::BadMobile,
        Some(b'0') => Problem::BadLandline,
        _ => Problem::BadPhone,
    };
    Err(ValidationError::new(field, problem))
}

fn is_mobile(b: &[u8]) -> bool {
    b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit)
}

/// `0` and two digits for Beijing (010) and the big cities (02x); `0` and three digits elsewhere.
fn area_code_len(b: &[u8]) -> Option<usize> {
    match b {
        [b'0', b'1', b'0', ..] | [b'0', b'2', ..] => Some(3),
        [b'0', b'3'..=b'9', ..] => Some(4),
        _ => None,
    }
}

fn is_landline(b: &[u8]) -> bool {
    let Some(n) = area_code_len(b) else { return false };
    let (area, rest) = b.split_at(n.min(b.len()));
    let Some((b'-', local)) = rest.split_first() else { return false };
    let local_len_ok = if n == 3 { local.len() == 8 } else { (7..=8).contains(&local.len()) };
    area.iter().all(u8::is_ascii_digit)
        && local_len_ok
        && local.iter().all(u8::is_ascii_digit)
        && !matches!(local.first(), Some(b'0' | b'1'))
}

/// The digits of a number, for searching by a fragment typed anywhere in it.
pub fn digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

/// `138****1234`: the first three and last four digits.
pub fn mask(phone: &str) -> String {
    super::error::mask_middle(phone, 3, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(raw: &str) -> Result<String, Problem> {
        let n = normalize(raw);
        validate("p", &n).map(|()| n).map_err(|e| e.problem)
    }

    #[test]
    fn typed_and_pasted_numbers_become_one_canonical_form() {
        for raw in [
            "13812341234",
            "138 1234 1234",
            "138-1234-1234",
            "+86 138 1234 1234",
            "+8613812341234",
            "008613812341234",
            "8613812341234",
            "１３８１２３４１２３４",
            "＋８６ １３８－１２３４－１２３４",
            "\u{3000}138 1234 1234 ",
        ] {
            assert_eq!(canonical(raw), Ok("13812341234".into()), "{raw:?}");
        }
        for (raw, want) in [
            ("0791-88881234", "0791-88881234"),
            ("079188881234", "0791-88881234"),
            ("(0791) 8888 1234", "0791-88881234"),
            ("+86 791 8888 1234", "0791-88881234"),
            ("010-62751234", "010-62751234"),
            ("01062751234", "010-62751234"),
            ("+86 10 6275 1234", "010-62751234"),
            ("020 8888 1234", "020-88881234"),
            ("0728-5551234", "0728-5551234"),
            ("０７２８－５５５１２３４", "0728-5551234"),
        ] {
            assert_eq!(canonical(raw), Ok(want.into()), "{raw:?}");
        }
    }

    #[test]
    fn numbers_of_no_real_shape_are_refused_and_the_problem_names_the_kind() {
        // Mobiles: a second digit of 0–2, a digit short or over.
        for raw in ["12812341234", "1381234123", "138123412345"] {
            assert_eq!(canonical(raw), Err(Problem::BadMobile), "{raw}");
        }
        // Landlines: a 3-digit area code with a 7-digit number, a local number from 0 or 1, an
        // area code from 01 other than 010, any 10–12 digits.
        for raw in ["010-6275123", "0791-08881234", "0791-18881234", "0119-88881234", "0791-888812345", "0000000000"] {
            assert_eq!(canonical(raw), Err(Problem::BadLandline), "{raw}");
        }
        for raw in ["", "abc", "+1 415 555 1234", "2345678901", "138x1234123", "++8613812341234"] {
            assert!(canonical(raw).is_err(), "{raw}");
        }
        // Stored values must be canonical: the server refuses what a tablet should have normalised.
        assert_eq!(validate("p", "07918888 1234").unwrap_err().problem, Problem::BadLandline);
        assert_eq!(validate("p", "+8613812341234").unwrap_err().problem, Problem::BadPhone);
        assert_eq!(validate("p", "079188881234").unwrap_err().problem, Problem::BadLandline);
    }

    #[test]
    fn the_message_says_what_was_expected_and_never_echoes_the_number() {
        let e = validate("profile.phone", "1381234123").unwrap_err();
        assert!(e.message_zh().contains("11 位"), "{}", e.message_zh());
        assert!(!e.message_zh().contains("1381234123") && !e.to_string().contains("1381234123"));
        let e = validate("profile.phone", "0791-0888123").unwrap_err();
        assert!(e.message_zh().contains("区号"), "{}", e.message_zh());
    }

    #[test]
    fn masks_the_middle() {
        assert_eq!(mask("13812341234"), "138****1234");
        assert_eq!(mask("0791-88881234"), "079******1234");
        assert_eq!(mask("123"), "***");
        assert_eq!(digits("0791-88881234"), "079188881234");
    }
}
