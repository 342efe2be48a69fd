//! The branch's product catalog (产品目录), managed by its admins (`admin catalog-put`,
//! `admin catalog-remove`) and delivered read-only to every tablet of the branch with the
//! branch's settings ([`settings`]: the pool's rules, the catalog and the territories, under one
//! version); tablets fetch the brochures and keep them for offline use.

use fieldsync_core::domain::CatalogProduct;
use fieldsync_core::domain::catalog::MAX_BROCHURE;
use fieldsync_core::sync::protocol::BranchSettings;

use crate::customers::PushError;
use crate::policy::Refusal;
use crate::store::{Store, StoreResult};

/// What a branch's tablets hold of its settings: the pool's rules and the catalog, under one
/// version (the later of the two changes), so a tablet with the current one is sent nothing.
pub fn settings(store: &dyn Store, branch_id: &str) -> StoreResult<BranchSettings> {
    let (pool_rules, _) = crate::pool::rules(store, branch_id)?;
    Ok(BranchSettings {
        version: settings_version(store, branch_id)?,
        pool_rules,
        customer_rules: crate::stages::rules(store, branch_id)?,
        catalog: store.catalog(branch_id)?,
        territories: store.territories(branch_id)?,
    })
}

/// The version of a branch's settings (the latest change of the pool's rules, the customer
/// rules, the catalog or the territories), read without the settings themselves.
pub fn settings_version(store: &dyn Store, branch_id: &str) -> StoreResult<i64> {
    let pool = crate::pool::rules(store, branch_id)?.1;
    let customers = crate::stages::versioned_rules(store, branch_id)?.1;
    Ok(pool.max(customers).max(store.catalog_version(branch_id)?).max(store.territories_version(branch_id)?))
}

/// A version later than the branch's current one, so every tablet learns of the change even if
/// the clock was set back.
pub(crate) fn next_version(store: &dyn Store, branch_id: &str, now: i64) -> StoreResult<i64> {
    Ok(now.max(settings_version(store, branch_id)? + 1))
}

/// Adds or replaces a product of `branch_id`, with its brochure's bytes when given, in the
/// caller's transaction.
pub fn put(
    store: &dyn Store,
    branch_id: &str,
    mut product: CatalogProduct,
    brochure: Option<&[u8]>,
    now: i64,
) -> Result<(), PushError> {
    if let Some(bytes) = brochure {
        if bytes.is_empty() || bytes.len() > MAX_BROCHURE {
            return Err(PushError::Refused(Refusal::Invalid("catalog.brochure".into())));
        }
        let hash = fieldsync_core::store::sha256_hex(bytes);
        store.save_catalog_file(&hash, bytes)?;
        product.brochure = Some(hash);
    }
    product.validate().map_err(|e| PushError::Refused(Refusal::Invalid(e.field)))?;
    let at = next_version(store, branch_id, now)?;
    store.put_catalog_product(branch_id, &product, at)?;
    Ok(())
}

/// Withdraws a product of `branch_id`; tablets drop it at their next sync.
pub fn remove(store: &dyn Store, branch_id: &str, product_id: &str, now: i64) -> Result<(), PushError> {
    let at = next_version(store, branch_id, now)?;
    if !store.remove_catalog_product(branch_id, product_id, at)? {
        return Err(PushError::NotFound);
    }
    Ok(())
}

/// `GET /api/v1/catalog/files/{hash}`: a brochure of the caller's branch catalog.
pub async fn download(
    axum::extract::State(state): axum::extract::State<crate::routes::AppState>,
    crate::routes::Authed(user): crate::routes::Authed,
    axum::extract::Path(hash): axum::extract::Path<String>,
) -> Result<axum::response::Response, crate::error::AppError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    // Only a lowercase SHA-256 in hex names a file: anything else is not looked up.
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(crate::error::AppError::NotFound);
    }
    let bytes = state
        .db
        .read(move |s| s.catalog_file(&user.branch_id, &hash))
        .await?
        .ok_or(crate::error::AppError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "private, max-age=86400, immutable"),
        ],
        axum::body::Body::from(bytes),
    )
        .into_response())
}
