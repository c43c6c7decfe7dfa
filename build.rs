//! Generates the Rust client from the hand-written OpenAPI document at build
//! time (progenitor). The output lives in OUT_DIR and is never committed, so
//! the client cannot drift from `openapi/imgshare.json`.

use std::{env, fs, path::PathBuf};

use progenitor::{GenerationSettings, Generator, InterfaceStyle, TagStyle};

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let spec_path = root.join("openapi/imgshare.json");
    println!("cargo:rerun-if-changed={}", spec_path.display());

    let text = fs::read_to_string(&spec_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", spec_path.display()));
    let spec: openapiv3::OpenAPI = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{} is not an OpenAPI 3.0 document: {e}",
            spec_path.display()
        )
    });

    let mut settings = GenerationSettings::default();
    // Positional: a new required parameter in the spec breaks callers at
    // compile time instead of at run time.
    settings
        .with_interface(InterfaceStyle::Positional)
        .with_tag(TagStyle::Merged);
    let tokens = Generator::new(&settings)
        .generate_tokens(&spec)
        .unwrap_or_else(|e| panic!("progenitor failed on {}: {e}", spec_path.display()));
    let file = syn::parse2(tokens).expect("progenitor produced valid Rust");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("imgshare_client.rs");
    fs::write(&out, prettyplease::unparse(&file))
        .unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
