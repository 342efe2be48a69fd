//! Containment of panics in automerge (and autosurgeon) while they work on foreign data.
//!
//! The checks in [`super::check`] refuse the malformed changes known to panic automerge 0.12;
//! whatever remains unknown must still fail one request with a clear error instead of unwinding
//! through the caller (a server's writer thread, the tablet's sync). Callers run the work on a
//! copy of the document and drop the copy when this reports a panic.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{Error, Result};

/// Runs `work`, turning a panic into [`Error::CorruptChanges`]. `what` names the input in the
/// error (never its content: panic messages may quote values, so they are not repeated here).
///
/// Only unwinding panics can be caught: the workspace must not build with `panic = "abort"`.
pub fn contain<T>(what: &'static str, work: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(what, "the document engine panicked on foreign data; the input was refused");
            Err(Error::CorruptChanges { reason: format!("{what}: the document engine could not process it") })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_and_other_results_pass_through() {
        // Under panic = "abort" this test would abort the test binary: it also guards the profile.
        let err = contain("test input", || -> Result<()> { panic!("boom") }).unwrap_err();
        assert!(matches!(&err, Error::CorruptChanges { reason } if reason.starts_with("test input")), "{err:?}");
        assert_eq!(contain("x", || Ok(7)).unwrap(), 7);
        assert!(matches!(contain("x", || -> Result<()> { Err(Error::NotSignedIn) }), Err(Error::NotSignedIn)));
    }
}
