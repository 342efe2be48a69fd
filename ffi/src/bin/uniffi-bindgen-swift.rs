//! The Swift bindings generator (one module map for both namespaces, XCFramework layout), at the
//! workspace's uniffi version (see scripts/bindings.sh).

fn main() {
    uniffi::uniffi_bindgen_swift()
}
