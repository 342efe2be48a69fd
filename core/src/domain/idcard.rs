//! Resident identity card numbers (GB 11643-1999): 17 digits and a check character.

use super::Gender;
use super::error::{Checked, Problem, ValidationError};

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// The check character for the first 17 digits.
pub fn check_char(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    Some(CHECK_CHARS[(sum % 11) as usize])
}

/// The canonical form of a typed number: surrounding spaces trimmed, full-width digits made
/// ASCII, a lower-case or full-width `x` stored as `X`.
pub fn normalize(raw: &str) -> String {
    raw.trim_matches(|c: char| c.is_whitespace())
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
            'x' | 'Ｘ' | 'ｘ' => 'X',
            c => c,
        })
        .collect()
}

/// The province-level codes of GB/T 2260 that open an ID number (and 81–83: residence permits of
/// Hong Kong, Macao and Taiwan residents).
const PROVINCES: [u8; 35] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63,
    64, 65, 71, 81, 82, 83,
];

/// Checks a canonical number (see [`normalize`]): format, province, embedded birth date and check
/// character. `field` names the field in errors. Whether the birth date is past is
/// [`check_born_by`]'s (it needs today's date).
pub fn validate(field: &str, number: &str) -> Checked {
    let bytes = number.as_bytes();
    if bytes.len() != 18
        || !bytes[..17].iter().all(u8::is_ascii_digit)
        || !(bytes[17].is_ascii_digit() || bytes[17] == b'X')
    {
        return Err(ValidationError::new(field, Problem::BadFormat));
    }
    let province = (bytes[0] - b'0') * 10 + (bytes[1] - b'0');
    if !PROVINCES.contains(&province) {
        return Err(ValidationError::new(field, Problem::UnknownRegion));
    }
    let (year, month, day) = birth_date(number).ok_or_else(|| ValidationError::new(field, Problem::BadFormat))?;
    if !(1900..=2100).contains(&year) || !super::customer::is_real_date(year, month, day) {
        return Err(ValidationError::new(field, Problem::ImpossibleDate));
    }
    if check_char(&bytes[..17]) != Some(bytes[17]) {
        return Err(ValidationError::new(field, Problem::BadChecksum));
    }
    Ok(())
}

/// Refuses a number whose birth date is after `today` (a civil date where the customer lives).
pub fn check_born_by(field: &str, number: &str, today: jiff::civil::Date) -> Checked {
    let Some((y, m, d)) = birth_date(number) else { return Ok(()) };
    let born = jiff::civil::Date::new(y as i16, m as i8, d as i8).ok();
    if born.is_some_and(|born| born > today) {
        return Err(ValidationError::new(field, Problem::InTheFuture));
    }
    Ok(())
}

/// What two files of one person share, for duplicate checks (查重): a SHA-256 digest of the
/// canonical number, so the number itself need not sit in a searchable column.
pub fn match_key(number: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(normalize(number).as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The birth date embedded in digits 7–14.
pub fn birth_date(number: &str) -> Option<(i32, u32, u32)> {
    let digits = number.get(6..14)?;
    let year = digits.get(0..4)?.parse().ok()?;
    let month = digits.get(4..6)?.parse().ok()?;
    let day = digits.get(6..8)?.parse().ok()?;
    Some((year, month, day))
}

/// The gender encoded in the 17th digit (odd: male).
pub fn gender(number: &str) -> Option<Gender> {
    let d = number.as_bytes().get(16)?;
    d.is_ascii_digit().then(|| if (d - b'0') % 2 == 1 { Gender::Male } else { Gender::Female })
}

/// `4228**********5665`: the region prefix and the last four characters only.
pub fn mask(number: &str) -> String {
    super::error::mask_middle(number, 4, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_numbers_from_the_reference_workload() {
        for n in ["422822196408275665", "11010519491231002X"] {
            assert_eq!(validate("id", n), Ok(()), "{n}");
        }
    }

    #[test]
    fn rejects_checksum_date_and_format_errors() {
        assert_eq!(validate("id", "422822196408275664").unwrap_err().problem, Problem::BadChecksum);
        assert_eq!(validate("id", "422822196402305665").unwrap_err().problem, Problem::ImpossibleDate);
        assert_eq!(validate("id", "42282219640827566").unwrap_err().problem, Problem::BadFormat);
        assert_eq!(validate("id", "4228221964082756６5").unwrap_err().problem, Problem::BadFormat);
        assert_eq!(validate("id", "").unwrap_err().problem, Problem::BadFormat);
        assert_eq!(validate("id", "4228221964082756６5").unwrap_err().problem, Problem::BadFormat);
    }

    #[test]
    fn typed_numbers_are_trimmed_and_made_canonical() {
        for raw in [
            "11010519491231002x",
            " 11010519491231002X\t",
            "１１０１０５１９４９１２３１００２ｘ",
            "\u{3000}11010519491231002Ｘ",
        ] {
            let n = normalize(raw);
            assert_eq!(n, "11010519491231002X", "{raw:?}");
            assert_eq!(validate("id", &n), Ok(()));
        }
        // Only the canonical form is stored: the server refuses a lower-case x.
        assert_eq!(validate("id", "11010519491231002x").unwrap_err().problem, Problem::BadFormat);
    }

    #[test]
    fn provinces_that_do_not_exist_and_births_after_today_are_refused() {
        // 10 and 99 open no ID number; the check character is right for each.
        for first17 in ["10010519491231002", "99010519491231002", "00010519491231002", "16010519491231002"] {
            let n = format!("{first17}{}", char::from(check_char(first17.as_bytes()).unwrap()));
            assert_eq!(validate("id", &n).unwrap_err().problem, Problem::UnknownRegion, "{n}");
        }
        let first17 = "11010520991231002";
        let born_2099 = format!("{first17}{}", char::from(check_char(first17.as_bytes()).unwrap()));
        assert_eq!(validate("id", &born_2099), Ok(()));
        let today = jiff::civil::date(2026, 11, 30);
        let e = check_born_by("profile.id_number", &born_2099, today).unwrap_err();
        assert_eq!(e.problem, Problem::InTheFuture);
        assert!(!e.message_zh().contains("2099"));
        assert_eq!(check_born_by("id", "11010519491231002X", today), Ok(()));
    }

    #[test]
    fn errors_never_echo_the_number() {
        let err = validate("profile.id_number", "422822196408275664").unwrap_err();
        assert!(!err.to_string().contains("4228221964"));
        assert!(!err.message_zh().contains("4228221964"));
    }

    #[test]
    fn masks_all_but_prefix_and_suffix() {
        assert_eq!(mask("422822196408275665"), "4228**********5665");
        assert_eq!(gender("422822196408275665"), Some(Gender::Female));
    }
}
