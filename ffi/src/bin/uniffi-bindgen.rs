//! The bindings generator, at the workspace's uniffi version (see scripts/bindings.sh).

fn main() {
    uniffi::uniffi_bindgen_main()
}
