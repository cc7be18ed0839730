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
    // `lp_publisher_stats` is the core's `PublisherStats`, declared from its own file.
    let core_stats = format!("{crate_dir}/../core/src/stats.rs");
    println!("cargo:rerun-if-changed={core_stats}");
    let generated = cbindgen::Builder::new()
        .with_config(config)
        .with_crate(&crate_dir)
        .with_src(&core_stats)
        .generate();
    match generated {
        Ok(bindings) => {
            bindings.write_to_file(format!("{out_dir}/libpublisher.h"));
        }
        Err(e) => panic!("cbindgen cannot generate the header: {e}"),
    }
}
