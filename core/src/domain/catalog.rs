//! The branch's product catalog (产品目录): deposits, loans, wealth management, cards and
//! insurance with their names, terms, rates and the materials a manager shows a farmer (a short
//! description and a brochure file). Managed by the branch's admins on the server, delivered
//! read-only to every tablet of the branch with its settings, usable offline; leads refer to it.

use serde::{Deserialize, Serialize};

use super::error::{Checked, Problem, ValidationError, check};
use super::lead::Product;

/// One product of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct CatalogProduct {
    /// Chosen by the branch (e.g. `dep-3y`); leads refer to it.
    pub id: String,
    pub kind: Product,
    pub name: String,
    /// The term as the branch writes it: `3 年`, `12 个月`, `随借随还`.
    pub term: String,
    /// The annual rate in basis points (`275` for 2.75 %), when it has one.
    pub rate_bp: Option<u32>,
    /// What the manager tells the farmer, in a few lines.
    pub description: String,
    /// The brochure's SHA-256 (hex), fetched by the tablet and kept for offline use.
    pub brochure: Option<String>,
}

impl CatalogProduct {
    pub fn validate(&self) -> Checked {
        check::id("catalog.id", &self.id)?;
        check::name("catalog.name", &self.name, 40)?;
        check::line("catalog.term", &self.term, 20)?;
        check::text("catalog.description", &self.description, 500)?;
        if self.rate_bp.is_some_and(|r| r > 10_000) {
            return Err(ValidationError::new("catalog.rate_bp", Problem::OutOfRange));
        }
        if let Some(h) = &self.brochure
            && !(h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return Err(ValidationError::new("catalog.brochure", Problem::BadFormat));
        }
        Ok(())
    }
}

/// The largest brochure a catalog takes (a PDF or an image of a leaflet).
pub const MAX_BROCHURE: usize = 8 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_are_checked() {
        let p = CatalogProduct {
            id: "dep-3y".into(),
            kind: Product::Deposit,
            name: "三年期整存整取".into(),
            term: "3 年".into(),
            rate_bp: Some(275),
            description: "保本保息，到期自动转存。".into(),
            brochure: Some("ab".repeat(32)),
        };
        assert_eq!(p.validate(), Ok(()));
        let bad = |f: fn(&mut CatalogProduct)| {
            let mut q = p.clone();
            f(&mut q);
            q.validate().unwrap_err().field
        };
        assert_eq!(bad(|q| q.id = "a b".into()), "catalog.id");
        assert_eq!(bad(|q| q.name = String::new()), "catalog.name");
        assert_eq!(bad(|q| q.rate_bp = Some(10_001)), "catalog.rate_bp");
        assert_eq!(bad(|q| q.brochure = Some("../etc/passwd".into())), "catalog.brochure");
        assert_eq!(bad(|q| q.description = "长".repeat(501)), "catalog.description");
    }
}
