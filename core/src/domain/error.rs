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
    /// Text not in Unicode NFC: the same visible name could be stored as two different strings.
    NotNormalized,
    /// A control character (a line break in a name; anything but newline and tab in free text).
    ControlCharacter,
    /// A bidirectional override, isolate or mark, which can make a name display as another.
    DirectionControl,
    /// Starts like a mobile number but is not one: `1[3-9]` and 9 more digits.
    BadMobile,
    /// Starts like a landline but is not one: an area code and a 7- or 8-digit number.
    BadLandline,
    /// Neither a mobile number nor a landline.
    BadPhone,
    /// An ID number whose first two digits are no province's.
    UnknownRegion,
    /// A date (of birth) after today.
    InTheFuture,
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
            Problem::NotNormalized => "is not in Unicode normalization form NFC",
            Problem::ControlCharacter => "contains a control character",
            Problem::DirectionControl => "contains a text-direction control character",
            Problem::BadMobile => "is not a mobile number: 11 digits starting 13–19 were expected",
            Problem::BadLandline => {
                "is not a landline: an area code (010, 02x or 0xxx) and a 7- or 8-digit number were expected"
            }
            Problem::BadPhone => "is not a phone number: a mobile (11 digits from 1) or a landline from its area code",
            Problem::UnknownRegion => "starts with a province code that does not exist",
            Problem::InTheFuture => "is in the future",
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
            Problem::NotNormalized => "不是 Unicode NFC 规范形式",
            Problem::ControlCharacter => "含有控制字符",
            Problem::DirectionControl => "含有文字方向控制字符",
            Problem::BadMobile => "不是有效手机号：应为 13–19 开头的 11 位数字",
            Problem::BadLandline => "不是有效座机号：应为区号（010、02x 或 0xxx）加 7–8 位号码",
            Problem::BadPhone => "不是有效电话号码：应为 11 位手机号或带区号的座机号",
            Problem::UnknownRegion => "的前两位不是有效的省份代码",
            Problem::InTheFuture => "晚于今天",
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

    /// The message for a Chinese-speaking user, the field named in Chinese where it has a name.
    pub fn message_zh(&self) -> String {
        format!("{}{}", self.field_zh(), self.problem.message_zh())
    }

    /// The field's name on the tablet's forms (its path where a form has no name for it).
    pub fn field_zh(&self) -> &str {
        match self.field.as_str() {
            "profile.name" => "姓名",
            "profile.village" => "村/网格",
            "profile.phone" => "电话",
            "contact.phone" => "联系人电话",
            "profile.birthday" => "生日",
            "profile.id_number" => "身份证号",
            "visit.check_in.position" => "签到位置",
            "visit.check_out.position" => "签退位置",
            "visit.check_out.at" => "签退时间",
            "visit.notes" => "走访记录",
            "visit.costs.transport_fen" => "交通费",
            "lead.amount_fen" => "线索金额",
            "lead.expected_close" => "预计成交日期",
            "lead.notes" => "线索备注",
            other => other,
        }
    }
}

/// What an error's `what` (a record's kind: "customer", "visit", …) is called in Chinese.
pub fn record_kind_zh(what: &str) -> &str {
    match what {
        "customer" => "客户",
        "pool customer" => "公海客户",
        "visit" => "走访",
        "lead" => "线索",
        "contact" => "联系人",
        "reminder" => "提醒",
        "interaction" => "互动记录",
        "intent" => "申请",
        other => other,
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
    use crate::domain::text;

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

    /// A required name shown in lists and pages (a person, a customer, a village): one line,
    /// NFC, no direction controls.
    pub fn name(field: &str, value: &str, max: usize) -> Checked {
        required(field, value, max)?;
        line_chars(field, value)
    }

    /// An optional one-line label (an address, an occupation, a role): the rules of a name, but
    /// it may be empty.
    pub fn line(field: &str, value: &str, max: usize) -> Checked {
        max_len(field, value, max)?;
        line_chars(field, value)
    }

    /// Optional free text (notes, outcomes, comments): NFC, newlines and tabs allowed, no other
    /// control character.
    pub fn text(field: &str, value: &str, max: usize) -> Checked {
        max_len(field, value, max)?;
        text_chars(field, value)
    }

    /// Free text that must say something (a lost reason, an interaction's summary).
    pub fn required_text(field: &str, value: &str, max: usize) -> Checked {
        required(field, value, max)?;
        text_chars(field, value)
    }

    fn line_chars(field: &str, value: &str) -> Checked {
        if value.chars().any(text::is_control_in_line) {
            return Err(ValidationError::new(field, Problem::ControlCharacter));
        }
        if value.chars().any(text::is_direction_control) {
            return Err(ValidationError::new(field, Problem::DirectionControl));
        }
        nfc(field, value)
    }

    fn text_chars(field: &str, value: &str) -> Checked {
        if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(ValidationError::new(field, Problem::ControlCharacter));
        }
        nfc(field, value)
    }

    fn nfc(field: &str, value: &str) -> Checked {
        if !text::is_nfc(value) {
            return Err(ValidationError::new(field, Problem::NotNormalized));
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
