//! The `newc` cpio format the kernel unpacks an initramfs from: per entry a
//! 110-byte ASCII header of hex fields, the NUL-terminated name and the data,
//! each padded to 4 bytes; a `TRAILER!!!` entry ends the archive.

use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Directory,
    File { bytes: Vec<u8>, mode: u32 },
    CharDevice { major: u32, minor: u32 },
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

/// Serialises entries keyed by absolute path. Sorting by path puts every
/// directory before what it contains, as the kernel's unpacker needs.
pub fn archive(entries: &BTreeMap<String, Entry>) -> Vec<u8> {
    let mut out = Vec::new();
    for (inode, (path, entry)) in (1u32..).zip(entries) {
        let name = path.trim_start_matches('/');
        let (mode, nlink, rdev, data): (u32, u32, (u32, u32), &[u8]) = match entry {
            Entry::Directory => (S_IFDIR | 0o755, 2, (0, 0), &[]),
            Entry::File { bytes, mode } => (S_IFREG | (mode & 0o7777), 1, (0, 0), bytes),
            Entry::CharDevice { major, minor } => (S_IFCHR | 0o600, 1, (*major, *minor), &[]),
        };
        push_entry(&mut out, name, inode, mode, nlink, rdev, data);
    }
    push_entry(&mut out, "TRAILER!!!", 0, 0, 1, (0, 0), &[]);
    out
}

fn push_entry(
    out: &mut Vec<u8>,
    name: &str,
    inode: u32,
    mode: u32,
    nlink: u32,
    (rdev_major, rdev_minor): (u32, u32),
    data: &[u8],
) {
    let size = u32::try_from(data.len()).expect("initramfs file under 4 GiB");
    let name_size = u32::try_from(name.len() + 1).expect("short path");
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    let fields = [
        inode, mode, 0, 0, nlink, 0, size, 0, 0, rdev_major, rdev_minor, name_size, 0,
    ];
    out.extend_from_slice(b"070701");
    for field in fields {
        out.extend_from_slice(format!("{field:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses an archive back, checking the magic, the 4-byte alignment of
    /// every entry and that the trailer ends it.
    fn read_back(archive: &[u8]) -> BTreeMap<String, Entry> {
        let mut entries = BTreeMap::new();
        let mut at = 0;
        loop {
            assert_eq!(at % 4, 0, "entry not 4-aligned");
            let header = &archive[at..at + 110];
            assert_eq!(&header[..6], b"070701");
            let field = |i: usize| {
                let text = std::str::from_utf8(&header[6 + 8 * i..14 + 8 * i]).unwrap();
                u32::from_str_radix(text, 16).unwrap()
            };
            let (mode, size, name_size) = (field(1), field(6) as usize, field(11) as usize);
            let name_end = at + 110 + name_size - 1;
            assert_eq!(archive[name_end], 0, "name is NUL-terminated");
            let name = std::str::from_utf8(&archive[at + 110..name_end]).unwrap();
            let data_start = (name_end + 1).next_multiple_of(4);
            let data = &archive[data_start..data_start + size];
            at = (data_start + size).next_multiple_of(4);
            if name == "TRAILER!!!" {
                assert_eq!(at, archive.len(), "nothing follows the trailer");
                return entries;
            }
            let entry = match mode & 0o170000 {
                S_IFDIR => Entry::Directory,
                S_IFREG => Entry::File {
                    bytes: data.to_vec(),
                    mode: mode & 0o7777,
                },
                S_IFCHR => Entry::CharDevice {
                    major: field(9),
                    minor: field(10),
                },
                other => panic!("unexpected file type {other:o}"),
            };
            entries.insert(format!("/{name}"), entry);
        }
    }

    #[test]
    fn entries_read_back_as_written() {
        let mut entries = BTreeMap::new();
        entries.insert("/bin".to_string(), Entry::Directory);
        let script = Entry::File {
            bytes: b"#!x\n".to_vec(),
            mode: 0o755,
        };
        entries.insert("/bin/tool".to_string(), script);
        let console = Entry::CharDevice { major: 5, minor: 1 };
        entries.insert("/dev/console".to_string(), console);
        entries.insert("/dev".to_string(), Entry::Directory);
        let unaligned = Entry::File {
            bytes: vec![7; 5],
            mode: 0o644,
        };
        entries.insert("/a-odd".to_string(), unaligned);

        assert_eq!(read_back(&archive(&entries)), entries);
    }
}
