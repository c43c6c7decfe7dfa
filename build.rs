//! Generates the Rust client from the hand-written OpenAPI document at build
//! time (progenitor). The output lives in OUT_DIR and is never committed, so
//! the client cannot drift from `openapi/imgshare.json`.
//!
//! With the `builder-style` feature it also generates the same API as a
//! builder-style client whose types derive `schemars::JsonSchema`
//! (`imgshare::builder_style`): that is the shape progenitor's CLI generator
//! needs, and the `imgshare` command-line client (`cli/`) is built on it.

use std::{env, fs, path::PathBuf};

use progenitor::{GenerationSettings, Generator, InterfaceStyle, TagStyle};

#[path = "client/progenitor_input.rs"]
mod progenitor_input;

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let spec_path = root.join("openapi/imgshare.json");
    println!("cargo:rerun-if-changed={}", spec_path.display());

    let text = fs::read_to_string(&spec_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", spec_path.display()));
    let spec = progenitor_input::load(&text, &spec_path);

    let mut settings = GenerationSettings::default();
    // Positional: a new required parameter in the spec breaks callers at
    // compile time instead of at run time.
    settings
        .with_interface(InterfaceStyle::Positional)
        .with_tag(TagStyle::Merged);
    generate(&spec, &settings, "imgshare_client.rs");

    if env::var_os("CARGO_FEATURE_BUILDER_STYLE").is_some() {
        let mut settings = GenerationSettings::default();
        settings
            .with_interface(InterfaceStyle::Builder)
            .with_tag(TagStyle::Merged)
            .with_derive("schemars::JsonSchema");
        generate(&spec, &settings, "imgshare_builder_style.rs");
    }
}

fn generate(spec: &openapiv3::OpenAPI, settings: &GenerationSettings, file_name: &str) {
    let tokens = Generator::new(settings)
        .generate_tokens(spec)
        .unwrap_or_else(|e| panic!("progenitor failed on openapi/imgshare.json: {e}"));
    let file = syn::parse2(tokens).expect("progenitor produced valid Rust");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join(file_name);
    fs::write(&out, prettyplease::unparse(&file))
        .unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
