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

/// Checks format, embedded birth date and check character. `field` names the field in errors.
pub fn validate(field: &str, number: &str) -> Checked {
    let bytes = number.as_bytes();
    if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) {
        return Err(ValidationError::new(field, Problem::BadFormat));
    }
    if bytes[0] == b'0' {
        return Err(ValidationError::new(field, Problem::BadFormat));
    }
    let (year, month, day) = birth_date(number).ok_or_else(|| ValidationError::new(field, Problem::BadFormat))?;
    if !(1900..=2100).contains(&year) || !super::customer::is_real_date(year, month, day) {
        return Err(ValidationError::new(field, Problem::ImpossibleDate));
    }
    let last = bytes[17].to_ascii_uppercase();
    if check_char(&bytes[..17]) != Some(last) {
        return Err(ValidationError::new(field, Problem::BadChecksum));
    }
    Ok(())
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
        for n in ["422822196408275665", "11010519491231002X", "11010519491231002x"] {
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
