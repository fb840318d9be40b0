//! Small files of a local store, read and written on the calling thread.
//!
//! `object_store`'s local backend hands every operation to a blocking
//! thread. For a task record or a small value that hand-off (two thread
//! wake-ups) costs more than the file itself, and a cached task is nothing
//! but a few such files: reading them here made a fully cached run of a
//! thousand tasks about twice as fast. Anything unusual (a large file, an
//! error to explain) goes the generic way.

use std::io::{ErrorKind, Read as _, Write as _};
use std::path::Path as FsPath;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

/// The largest file read here; larger ones go to a blocking thread.
pub(crate) const MAX_INLINE_BYTES: u64 = 1 << 20;

/// What reading a small file found.
pub(crate) enum SmallRead {
    Found(Bytes),
    Missing,
    /// Too large or unreadable here: read it the generic way.
    Elsewhere,
}

/// Reads `file` if it is at most [`MAX_INLINE_BYTES`].
pub(crate) fn read_small(file: &FsPath) -> SmallRead {
    let mut opened = match std::fs::File::open(file) {
        Ok(opened) => opened,
        Err(e) if e.kind() == ErrorKind::NotFound => return SmallRead::Missing,
        Err(_) => return SmallRead::Elsewhere,
    };
    let len = match opened.metadata() {
        Ok(meta) if meta.is_file() && meta.len() <= MAX_INLINE_BYTES => meta.len(),
        _ => return SmallRead::Elsewhere,
    };
    let mut bytes = Vec::with_capacity(len as usize);
    // Exactly the length found: files here are replaced by renaming a new
    // one over them, never rewritten in place, so what this descriptor
    // reads is fixed. Stopping at the length spares the read that would
    // only find the end (a third of a small file's system calls).
    match (&mut opened).take(len).read_to_end(&mut bytes) {
        Ok(n) if n as u64 == len => SmallRead::Found(Bytes::from(bytes)),
        _ => SmallRead::Elsewhere,
    }
}

/// Replaces `file` with `bytes` atomically: written beside it under a
/// staging name (with `#`, which listings skip and `remove_staging`
/// clears), then renamed over it. Parent directories are made as needed.
pub(crate) fn replace(file: &FsPath, bytes: &[u8]) -> std::io::Result<()> {
    static STAGED: AtomicU64 = AtomicU64::new(0);
    let mut staging = file.as_os_str().to_os_string();
    staging.push(format!(
        "#{}-{}",
        std::process::id(),
        STAGED.fetch_add(1, Ordering::Relaxed)
    ));
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staging)
    };
    let mut out = match create() {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            create()?
        }
        other => other?,
    };
    let written = out
        .write_all(bytes)
        .and_then(|()| std::fs::rename(&staging, file));
    if written.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_are_read_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a/b/record.json");
        assert!(matches!(read_small(&file), SmallRead::Missing));
        replace(&file, b"first").unwrap();
        replace(&file, b"second").unwrap();
        match read_small(&file) {
            SmallRead::Found(bytes) => assert_eq!(&bytes[..], b"second"),
            _ => panic!("the record was not read"),
        }
        // Only the record is left: no staging file.
        let names: Vec<_> = std::fs::read_dir(file.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["record.json"]);
    }

    #[test]
    fn large_files_and_directories_are_left_to_the_generic_read() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![0u8; MAX_INLINE_BYTES as usize + 1]).unwrap();
        assert!(matches!(read_small(&big), SmallRead::Elsewhere));
        assert!(matches!(read_small(dir.path()), SmallRead::Elsewhere));
    }
}
