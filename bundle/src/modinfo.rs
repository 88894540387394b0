//! Reads a kernel module's `.modinfo` section (NUL-separated `key=value`
//! strings), which holds the module's name and its vermagic.

use object::{Object as _, ObjectSection as _};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModinfoError {
    #[error("not an ELF object: {0}")]
    NotElf(String),
    #[error("no .modinfo section: not a kernel module")]
    NoModinfo,
    #[error(".modinfo has no `{0}` field")]
    Missing(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModInfo {
    pub name: String,
    pub vermagic: String,
    /// Every field in section order (a key may repeat, e.g. `depends`, `parm`).
    pub fields: Vec<(String, String)>,
}

impl ModInfo {
    /// The release part of vermagic: its first word (`6.1.0-56-cloud-amd64`).
    pub fn vermagic_release(&self) -> &str {
        self.vermagic.split_whitespace().next().unwrap_or_default()
    }

    /// The ELF machine name as `uname -m` spells it, when known.
    pub fn arch_of(elf: &[u8]) -> Option<&'static str> {
        let file = object::File::parse(elf).ok()?;
        Some(match file.architecture() {
            object::Architecture::X86_64 => "x86_64",
            object::Architecture::Aarch64 => "aarch64",
            object::Architecture::I386 => "i686",
            object::Architecture::PowerPc64 => "ppc64le",
            object::Architecture::S390x => "s390x",
            object::Architecture::Riscv64 => "riscv64",
            _ => return None,
        })
    }
}

pub fn read_modinfo(elf: &[u8]) -> Result<ModInfo, ModinfoError> {
    let file = object::File::parse(elf).map_err(|e| ModinfoError::NotElf(e.to_string()))?;
    let section = file
        .section_by_name(".modinfo")
        .ok_or(ModinfoError::NoModinfo)?;
    let data = section
        .data()
        .map_err(|e| ModinfoError::NotElf(e.to_string()))?;
    let fields: Vec<(String, String)> = data
        .split(|&b| b == 0)
        .filter_map(|item| {
            let text = String::from_utf8_lossy(item);
            let (k, v) = text.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect();
    let get = |key: &'static str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .ok_or(ModinfoError::Missing(key))
    };
    Ok(ModInfo {
        name: get("name")?,
        vermagic: get("vermagic")?,
        fields,
    })
}

/// One entry of a module's `__versions`: an imported symbol and the CRC of
/// its prototype the module was built against (modversions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolVersion {
    pub name: String,
    pub crc: u32,
}

/// `struct modversion_info` on 64-bit kernels: an `unsigned long` CRC, then
/// the NUL-padded name, 64 bytes in all.
const MODVERSION_ENTRY_BYTES: usize = 64;

/// The module's `__versions` (empty when built without modversions).
pub fn read_versions(elf: &[u8]) -> Result<Vec<SymbolVersion>, ModinfoError> {
    let file = object::File::parse(elf).map_err(|e| ModinfoError::NotElf(e.to_string()))?;
    let Some(section) = file.section_by_name("__versions") else {
        return Ok(Vec::new());
    };
    let data = section
        .data()
        .map_err(|e| ModinfoError::NotElf(e.to_string()))?;
    Ok(data
        .chunks_exact(MODVERSION_ENTRY_BYTES)
        .map(|entry| {
            let (crc, name) = entry.split_at(8);
            let crc = if file.is_little_endian() {
                u64::from_le_bytes(crc.try_into().unwrap_or_default())
            } else {
                u64::from_be_bytes(crc.try_into().unwrap_or_default())
            };
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            SymbolVersion {
                name: String::from_utf8_lossy(&name[..end]).into_owned(),
                crc: crc as u32,
            }
        })
        .collect())
}
