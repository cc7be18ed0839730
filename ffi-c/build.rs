//! Generates the C header from the crate's exported items into OUT_DIR; the test
//! `header_is_current` compares it with the checked-in include/libpublisher.h, and
//! `scripts/update-header` copies it there.

fn main() {
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let config = cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml"))
        .expect("ffi-c/cbindgen.toml is readable");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=src");
    match cbindgen::generate_with_config(&crate_dir, config) {
        Ok(bindings) => {
            bindings.write_to_file(format!("{out_dir}/libpublisher.h"));
        }
        Err(e) => panic!("cbindgen cannot generate the header: {e}"),
    }
}
