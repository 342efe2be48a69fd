//! Territories (网格): each village of a branch with its outlet and the managers responsible for
//! it, set by admins (`admin set-territory`) and delivered with the branch's settings, so a
//! manager's customer list and pool view follow their villages offline; the overview's coverage
//! names them.

use fieldsync_core::domain::Territory;

use crate::customers::{BranchDirectory, PushError};
use crate::policy::{Directory, Refusal};
use crate::store::Store;

/// Sets a village's outlet and responsible managers (active managers of the branch), in the
/// caller's transaction; tablets get it with their next sync.
pub fn set(store: &dyn Store, branch_id: &str, territory: Territory, now: i64) -> Result<(), PushError> {
    territory.validate().map_err(|e| PushError::Refused(Refusal::Invalid(e.field)))?;
    let directory = BranchDirectory { store, branch_id };
    if territory.manager_ids.iter().any(|m| directory.manager_name(m).is_none()) {
        return Err(PushError::Refused(Refusal::UnknownOwner));
    }
    if let Some(outlet) = &territory.outlet_id
        && !store.branch_outlets(branch_id)?.iter().any(|(id, _)| id == outlet)
    {
        return Err(PushError::NotFound);
    }
    let at = now.max(crate::catalog::settings_version(store, branch_id)? + 1);
    store.set_territory(branch_id, &territory, at)?;
    Ok(())
}
