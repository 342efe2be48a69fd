//! Territories: the branch's villages (grids, 网格), each with its outlet and the managers
//! responsible for it. Set on the server, delivered with the branch's settings; a manager's
//! customer list and pool view follow their villages, offline.

use serde::{Deserialize, Serialize};

use super::error::{Checked, Problem, ValidationError, check};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Territory {
    /// As customers' profiles name it.
    pub village: String,
    pub outlet_id: Option<String>,
    /// The managers responsible for it (user IDs).
    pub manager_ids: Vec<String>,
}

impl Territory {
    pub fn validate(&self) -> Checked {
        check::name("territory.village", &self.village, check::MAX_SHORT)?;
        if let Some(o) = &self.outlet_id {
            check::id("territory.outlet_id", o)?;
        }
        if self.manager_ids.len() > 20 {
            return Err(ValidationError::new("territory.manager_ids", Problem::OutOfRange));
        }
        self.manager_ids.iter().try_for_each(|m| check::id("territory.manager_ids", m))
    }
}
