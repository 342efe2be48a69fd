//! Contacts of a customer and how they relate to it (关系人).

use autosurgeon::{Hydrate, Reconcile};

use super::codes::code_enum;
use super::error::{Checked, Problem, ValidationError, check};
use super::{phone, text};

code_enum! {
    /// How a contact relates to the customer.
    pub enum Relation {
        Superior = ("superior", "上级"),
        Subordinate = ("subordinate", "下属"),
        Spouse = ("spouse", "配偶"),
        Parent = ("parent", "父母"),
        Child = ("child", "子女"),
        Relative = ("relative", "亲属"),
        VillageCadre = ("village_cadre", "村干部"),
        LegalRepresentative = ("legal_representative", "法定代表人"),
        Shareholder = ("shareholder", "股东"),
        Guarantor = ("guarantor", "担保人"),
        Referrer = ("referrer", "推荐人"),
        HouseholdMember = ("household_member", "家庭成员"),
        Other = ("other", "其他"),
    }
}

#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Contact {
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    pub id: String,
    pub name: String,
    /// Position or role, e.g. 财务负责人.
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    pub role: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub phone: Option<String>,
    pub relation: Relation,
    /// 0 (none) to 3 (decisive).
    #[cfg_attr(feature = "uniffi", uniffi(default = 0))]
    pub influence: u8,
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub key_decision_maker: bool,
    /// Preferences and taboos worth knowing before a visit.
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    pub preferences: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    pub notes: String,
}

impl Contact {
    /// Stores what the user typed in NFC (see `text.rs`), the phone in its canonical form.
    pub fn normalize(&mut self) {
        text::normalize_line(&mut self.name);
        text::normalize_line(&mut self.role);
        if let Some(p) = &mut self.phone {
            *p = phone::normalize(p);
        }
        text::normalize_text(&mut self.preferences);
        text::normalize_text(&mut self.notes);
    }

    pub fn validate(&self) -> Checked {
        check::id("contact.id", &self.id)?;
        check::name("contact.name", &self.name, check::MAX_SHORT)?;
        check::line("contact.role", &self.role, check::MAX_SHORT)?;
        if let Some(p) = &self.phone {
            phone::validate("contact.phone", p)?;
        }
        if self.influence > 3 {
            return Err(ValidationError::new("contact.influence", Problem::OutOfRange));
        }
        check::text("contact.preferences", &self.preferences, check::MAX_TEXT)?;
        check::text("contact.notes", &self.notes, check::MAX_TEXT)
    }
}
