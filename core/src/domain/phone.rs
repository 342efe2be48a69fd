//! Phone numbers: mainland mobile numbers and landlines with an area code.

use super::error::{Checked, Problem, ValidationError};

/// Accepts `1[3-9]` + 9 digits (mobile) or `0` + area code + number, with an optional dash.
pub fn validate(field: &str, phone: &str) -> Checked {
    let b = phone.as_bytes();
    let mobile = b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit);
    let landline = {
        let digits: Vec<u8> = b.iter().copied().filter(|c| *c != b'-').collect();
        let dashes = b.iter().filter(|c| **c == b'-').count();
        b.first() == Some(&b'0')
            && dashes <= 1
            && (10..=12).contains(&digits.len())
            && digits.iter().all(u8::is_ascii_digit)
    };
    if mobile || landline { Ok(()) } else { Err(ValidationError::new(field, Problem::BadFormat)) }
}

/// `138****1234`: the first three and last four digits.
pub fn mask(phone: &str) -> String {
    super::error::mask_middle(phone, 3, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_mobiles_and_landlines() {
        assert!(validate("p", "13812341234").is_ok());
        assert!(validate("p", "0791-88881234").is_ok());
        assert!(validate("p", "12812341234").is_err());
        assert!(validate("p", "1381234123").is_err());
        assert!(validate("p", "138123412345").is_err());
        assert!(validate("p", "+8613812341234").is_err());
        assert!(validate("p", "").is_err());
    }

    #[test]
    fn masks_the_middle() {
        assert_eq!(mask("13812341234"), "138****1234");
        assert_eq!(mask("0791-88881234"), "079******1234");
        assert_eq!(mask("123"), "***");
    }
}
