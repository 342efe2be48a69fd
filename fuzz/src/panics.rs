//! What a panic means to the targets. A panic that reaches a target is a crash (libfuzzer-sys
//! aborts on it). A panic that the code under test catches itself and turns into an error (the
//! server and the store contain dependency panics with `catch_unwind`, as issue 11 asks) is by
//! design not a crash, but it still shows a check that let bad input reach automerge: it is
//! reported once per location on stderr as `fieldsync-fuzz: panicked at ...`, and its input is saved
//! as `panic-<n>` under `$FIELDSYNC_FUZZ_CONTAINED` when that is set.
//!
//! With `FIELDSYNC_FUZZ_STRICT=1` every panic is a crash, contained or not (libFuzzer's default).

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Mutex;

thread_local! {
    static CURRENT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Installs the policy; call from the target's `init`.
pub fn install() {
    if std::env::var_os("FIELDSYNC_FUZZ_STRICT").is_some_and(|v| v != "0") {
        return;
    }
    let saved = std::env::var_os("FIELDSYNC_FUZZ_CONTAINED").map(std::path::PathBuf::from);
    std::panic::set_hook(Box::new(move |info| {
        let location = info.location().map_or_else(|| "?".to_string(), |l| format!("{}:{}", l.file(), l.line()));
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
        let seen = seen.get_or_insert_with(HashSet::new);
        // An uncaught one is reported again by libFuzzer as a crash, with its input.
        if seen.insert(location.clone()) {
            let mut note = String::new();
            if let Some(dir) = &saved {
                let path = dir.join(format!("panic-{}", seen.len()));
                let written = CURRENT.with(|c| std::fs::write(&path, &*c.borrow()));
                if written.is_ok() {
                    note = format!(" (input: {})", path.display());
                }
            }
            eprintln!("fieldsync-fuzz: panicked at {location}: {message}{note}");
        }
    }));
}

/// Runs one input, keeping it at hand for the panic hook.
pub fn with_input<T>(data: &[u8], f: impl FnOnce() -> T) -> T {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        c.clear();
        c.extend_from_slice(data);
    });
    f()
}
