//! Plugin states as nice-plug's CLAP wrapper stores them, for tests that restore projects.
#![allow(dead_code)]

use wasp::{SavedModule, Source};

/// Frames a JSON plugin state the way nice-plug's CLAP wrapper stores it: the JSON's length as
/// a little-endian u64, then the JSON.
pub fn encode_state(json: &serde_json::Value) -> Vec<u8> {
    let body = serde_json::to_vec(json).unwrap();
    let mut bytes = (body.len() as u64).to_le_bytes().to_vec();
    bytes.extend(body);
    bytes
}

/// The JSON inside a saved CLAP state.
pub fn decode_state(bytes: &[u8]) -> serde_json::Value {
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + len]).unwrap()
}

/// The module a saved state carries.
pub fn saved_module(bytes: &[u8]) -> Option<SavedModule> {
    let json = decode_state(bytes);
    serde_json::from_str(json["fields"]["module"].as_str().unwrap()).unwrap()
}

/// A plugin state carrying `module` with module parameter values and host parameters.
pub fn state_with(
    module: &[u8],
    values: &[(&str, f32)],
    host_params: serde_json::Value,
) -> Vec<u8> {
    let saved = SavedModule {
        params: values.iter().map(|(id, v)| (id.to_string(), *v)).collect(),
        ..SavedModule::from_source(&Source::from_bytes(module))
    };
    let field = serde_json::to_string(&Some(saved)).unwrap();
    encode_state(&serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "params": host_params,
        "fields": { "module": field },
    }))
}
