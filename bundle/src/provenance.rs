//! The provenance statement stored in every bundle: an in-toto Statement v1
//! with an SLSA provenance v1 predicate saying what was built (the modules),
//! from which scripts, for which kernels, by which tool.

use serde_json::{json, Value};

pub const PATH: &str = "provenance.intoto.json";
const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";

/// A named artifact with its sha256.
pub struct Artifact<'a> {
    pub name: &'a str,
    pub sha256: &'a str,
}

pub struct ProvenanceInput<'a> {
    /// How the modules were made: `assemble` (prebuilt) or `build`.
    pub build_type: &'a str,
    pub bundle_name: &'a str,
    pub bundle_version: &'a str,
    pub modules: Vec<Artifact<'a>>,
    pub scripts: Vec<Artifact<'a>>,
    pub kernels: Vec<&'a str>,
    pub tool_version: &'a str,
    /// RFC 3339; the manifest's creation time, so the statement is reproducible.
    pub time: &'a str,
}

pub fn statement(input: &ProvenanceInput) -> Vec<u8> {
    let artifact = |a: &Artifact| json!({ "name": a.name, "digest": { "sha256": a.sha256 } });
    let value: Value = json!({
        "_type": STATEMENT_TYPE,
        "subject": input.modules.iter().map(artifact).collect::<Vec<_>>(),
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": format!("urn:stap-pack:buildtype:{}:v1", input.build_type),
                "externalParameters": {
                    "bundle": { "name": input.bundle_name, "version": input.bundle_version },
                    "kernels": input.kernels,
                },
                "resolvedDependencies": input.scripts.iter().map(artifact).collect::<Vec<_>>(),
            },
            "runDetails": {
                "builder": { "id": format!("urn:stap-pack:builder:stap-pack@{}", input.tool_version) },
                "metadata": {
                    "invocationId": format!("{}@{}", input.bundle_name, input.bundle_version),
                    "startedOn": input.time,
                    "finishedOn": input.time,
                },
            },
        },
    });
    let mut out = serde_json::to_vec_pretty(&value).expect("statement serialises");
    out.push(b'\n');
    out
}
