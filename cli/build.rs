//! Generates the command-line client from the hand-written OpenAPI document at
//! build time with progenitor's CLI generator (clap). The output lives in
//! OUT_DIR and is never committed: one subcommand per operationId, one flag
//! per path/query/header parameter and per scalar body property, plus
//! `--json-body FILE` for whole bodies.
//!
//! The generated code drives `imgshare::builder_style` (the `imgshare`
//! crate's builder-style client, generated from the same document with the
//! same settings as below), so the CLI and the client crate cannot disagree.

use std::{env, fs, path::PathBuf};

use progenitor::{GenerationSettings, Generator, InterfaceStyle, TagStyle};

#[path = "../client/progenitor_input.rs"]
mod progenitor_input;

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let spec_path = dir.join("../openapi/imgshare.json");
    println!("cargo:rerun-if-changed={}", spec_path.display());

    let text = fs::read_to_string(&spec_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", spec_path.display()));
    let spec = progenitor_input::load(&text, &spec_path);

    // Must match the `builder-style` settings in the imgshare crate's build.rs.
    let mut settings = GenerationSettings::default();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_derive("schemars::JsonSchema");
    let tokens = Generator::new(&settings)
        .cli(&spec, "imgshare::builder_style")
        .unwrap_or_else(|e| panic!("progenitor's CLI generator failed: {e}"));
    let file = syn::parse2(tokens).expect("progenitor produced valid Rust");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR")).join("imgshare_cli.rs");
    fs::write(&out, prettyplease::unparse(&file))
        .unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
