//! Validation errors: which field is wrong and why, never the value itself.

use std::fmt;

/// Why a field was refused. Each has an English and a Simplified Chinese message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Required,
    TooLong,
    BadFormat,
    BadChecksum,
    ImpossibleDate,
    OutOfRange,
    NotFinite,
    NullIsland,
    Negative,
    Duplicate,
    BeforeStart,
    Unknown,
}

impl Problem {
    pub fn message_en(self) -> &'static str {
        match self {
            Problem::Required => "is required",
            Problem::TooLong => "is too long",
            Problem::BadFormat => "is not in the expected format",
            Problem::BadChecksum => "has a wrong check character",
            Problem::ImpossibleDate => "is not a real date",
            Problem::OutOfRange => "is out of range",
            Problem::NotFinite => "is not a finite number",
            Problem::NullIsland => "is 0,0, which is what a failed GPS fix reports",
            Problem::Negative => "must not be negative",
            Problem::Duplicate => "appears twice",
            Problem::BeforeStart => "is earlier than the start",
            Problem::Unknown => "refers to something that does not exist",
        }
    }

    pub fn message_zh(self) -> &'static str {
        match self {
            Problem::Required => "不能为空",
            Problem::TooLong => "太长",
            Problem::BadFormat => "格式不正确",
            Problem::BadChecksum => "校验位不正确",
            Problem::ImpossibleDate => "不是有效日期",
            Problem::OutOfRange => "超出允许范围",
            Problem::NotFinite => "不是有效数字",
            Problem::NullIsland => "为 0,0，定位失败",
            Problem::Negative => "不能为负数",
            Problem::Duplicate => "重复",
            Problem::BeforeStart => "早于开始时间",
            Problem::Unknown => "引用的记录不存在",
        }
    }
}

/// A field that failed validation. `field` is a dotted path such as `profile.id_number`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub problem: Problem,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, problem: Problem) -> Self {
        ValidationError { field: field.into(), problem }
    }

    /// The message for a Chinese-speaking user.
    pub fn message_zh(&self) -> String {
        format!("{}{}", self.field, self.problem.message_zh())
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.problem.message_en())
    }
}

impl std::error::Error for ValidationError {}

pub type Checked = Result<(), ValidationError>;

/// Keeps the first `head` and last `tail` characters and stars the rest; a value too short to
/// keep anything after masking is starred whole.
pub(crate) fn mask_middle(value: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// Small checks shared by every entity.
pub(crate) mod check {
    use super::{Checked, Problem, ValidationError};

    pub const MAX_SHORT: usize = 100;
    pub const MAX_TEXT: usize = 4000;

    pub fn required(field: &str, value: &str, max: usize) -> Checked {
        if value.trim().is_empty() {
            return Err(ValidationError::new(field, Problem::Required));
        }
        max_len(field, value, max)
    }

    pub fn max_len(field: &str, value: &str, max: usize) -> Checked {
        if value.chars().count() > max {
            return Err(ValidationError::new(field, Problem::TooLong));
        }
        Ok(())
    }

    pub fn money(field: &str, fen: i64) -> Checked {
        if fen < 0 {
            return Err(ValidationError::new(field, Problem::Negative));
        }
        Ok(())
    }

    /// Times are UTC milliseconds; anything before 2000 or after 2100 is a unit mistake.
    pub fn time_ms(field: &str, ms: i64) -> Checked {
        const Y2000: i64 = 946_684_800_000;
        const Y2100: i64 = 4_102_444_800_000;
        if !(Y2000..Y2100).contains(&ms) {
            return Err(ValidationError::new(field, Problem::OutOfRange));
        }
        Ok(())
    }

    /// IDs are minted on devices; we accept any short printable token without spaces.
    pub fn id(field: &str, id: &str) -> Checked {
        if id.is_empty() {
            return Err(ValidationError::new(field, Problem::Required));
        }
        if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(ValidationError::new(field, Problem::BadFormat));
        }
        Ok(())
    }
}
