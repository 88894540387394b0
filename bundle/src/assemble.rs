//! Builds bundle contents from prebuilt modules and their scripts: reads each
//! module's vermagic, checks it was built for the kernel it is filed under,
//! writes the manifest and the provenance statement.

use std::collections::BTreeMap;

use crate::archive::BundleContents;
use crate::digest::sha256_hex;
use crate::manifest::{
    self, FileEntry, KernelEntry, Manifest, Parameter, Privilege, ScriptEntry, Tool,
};
use crate::modinfo::{read_modinfo, read_versions, ModInfo, ModinfoError};
use crate::provenance::{self, Artifact, ProvenanceInput};

pub struct ModuleInput {
    /// `uname -r` of the kernel the module is for.
    pub release: String,
    /// `uname -v` of that kernel, when known.
    pub version: Option<String>,
    /// Where the module came from, for messages.
    pub origin: String,
    pub bytes: Vec<u8>,
    /// The kernel's exported symbols and their CRCs (its `Module.symvers`),
    /// when the build knew them; empty otherwise.
    pub kernel_crcs: BTreeMap<String, u32>,
}

pub struct ScriptInput {
    /// File name stored under `scripts/`.
    pub file_name: String,
    pub bytes: Vec<u8>,
}

pub struct BundleSpec {
    pub name: String,
    pub version: semver::Version,
    pub privilege: Privilege,
    pub not_after: Option<String>,
    pub parameters: Vec<Parameter>,
    pub scripts: Vec<ScriptInput>,
    pub modules: Vec<ModuleInput>,
    /// Unix seconds (`SOURCE_DATE_EPOCH` or 0 for reproducible bundles).
    pub created: i64,
    pub tool_version: String,
    /// `assemble` or `build`, recorded in the provenance.
    pub build_type: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    #[error("{origin}: {source}")]
    Modinfo {
        origin: String,
        source: ModinfoError,
    },
    #[error("{origin} was built for kernel {built_for} (vermagic `{vermagic}`), not for {release}; file it under the kernel it was built for")]
    WrongKernel {
        origin: String,
        release: String,
        built_for: String,
        vermagic: String,
    },
    #[error(
        "{origin}: the module imports {symbol}, which is not in the Module.symvers of kernel {release}: \
         it was built against another kernel's headers"
    )]
    UnknownSymbol {
        origin: String,
        release: String,
        symbol: String,
    },
    #[error("{origin}: cannot tell the module's architecture from its ELF header")]
    UnknownArch { origin: String },
    #[error("{0}")]
    Manifest(#[from] manifest::ManifestError),
}

/// The kernel's CRCs of the symbols the module imports (none when the
/// kernel's table is unknown): what the runner checks before loading.
fn imported_crcs(module: &ModuleInput) -> Result<BTreeMap<String, u32>, AssembleError> {
    if module.kernel_crcs.is_empty() {
        return Ok(BTreeMap::new());
    }
    let versions = read_versions(&module.bytes).map_err(|source| AssembleError::Modinfo {
        origin: module.origin.clone(),
        source,
    })?;
    let mut crcs = BTreeMap::new();
    for version in versions {
        let crc =
            module
                .kernel_crcs
                .get(&version.name)
                .ok_or_else(|| AssembleError::UnknownSymbol {
                    origin: module.origin.clone(),
                    release: module.release.clone(),
                    symbol: version.name.clone(),
                })?;
        crcs.insert(version.name, *crc);
    }
    Ok(crcs)
}

pub fn assemble(spec: BundleSpec) -> Result<BundleContents, AssembleError> {
    let mut payload: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut kernels = Vec::new();
    for module in spec.modules {
        let info: ModInfo =
            read_modinfo(&module.bytes).map_err(|source| AssembleError::Modinfo {
                origin: module.origin.clone(),
                source,
            })?;
        if info.vermagic_release() != module.release {
            return Err(AssembleError::WrongKernel {
                origin: module.origin,
                release: module.release,
                built_for: info.vermagic_release().to_string(),
                vermagic: info.vermagic,
            });
        }
        let arch = ModInfo::arch_of(&module.bytes).ok_or_else(|| AssembleError::UnknownArch {
            origin: module.origin.clone(),
        })?;
        let symbol_crcs = imported_crcs(&module)?;
        let module_path = format!("modules/{}/{}.ko", module.release, info.name);
        kernels.push(KernelEntry {
            release: module.release,
            version: module.version,
            arch: arch.to_string(),
            vermagic: info.vermagic,
            module_name: info.name,
            module_sha256: sha256_hex(&module.bytes),
            module_path: module_path.clone(),
            symbol_crcs,
        });
        payload.insert(module_path, module.bytes);
    }
    kernels.sort_by(|a, b| (&a.release, &a.arch).cmp(&(&b.release, &b.arch)));

    let mut scripts = Vec::new();
    for script in spec.scripts {
        let path = format!("scripts/{}", script.file_name);
        scripts.push(ScriptEntry {
            path: path.clone(),
            sha256: sha256_hex(&script.bytes),
        });
        payload.insert(path, script.bytes);
    }

    let created = crate::time::format_rfc3339(spec.created);
    let version = spec.version.to_string();
    let statement = provenance::statement(&ProvenanceInput {
        build_type: spec.build_type,
        bundle_name: &spec.name,
        bundle_version: &version,
        modules: kernels
            .iter()
            .map(|k| Artifact {
                name: &k.module_path,
                sha256: &k.module_sha256,
            })
            .collect(),
        scripts: scripts
            .iter()
            .map(|s| Artifact {
                name: &s.path,
                sha256: &s.sha256,
            })
            .collect(),
        kernels: kernels.iter().map(|k| k.release.as_str()).collect(),
        tool_version: &spec.tool_version,
        time: &created,
    });
    payload.insert(provenance::PATH.to_string(), statement);

    let files = payload
        .iter()
        .map(|(path, data)| FileEntry {
            path: path.clone(),
            size: data.len() as u64,
            sha256: sha256_hex(data),
        })
        .collect();
    let manifest = Manifest {
        format: manifest::FORMAT_NAME.to_string(),
        format_version: manifest::FORMAT_VERSION,
        name: spec.name,
        version: spec.version,
        created,
        tool: Tool {
            name: "stap-pack".to_string(),
            version: spec.tool_version,
        },
        privilege: spec.privilege,
        not_after: spec.not_after,
        scripts,
        parameters: spec.parameters,
        kernels,
        provenance: provenance::PATH.to_string(),
        files,
    };
    manifest.validate()?;
    Ok(BundleContents {
        manifest_bytes: manifest.to_json_bytes(),
        signatures: BTreeMap::new(),
        payload,
    })
}
