//! `wasi:filesystem/types` for componentize-py's start-up: WASI's own
//! implementation, except for what differs between two builds of the same
//! app and would end up in the snapshot (in live objects, or in freed memory
//! that padding later shows).
//!
//! - Times: every file reports the epoch as its access, modification and
//!   change time.
//! - Identity (`metadata-hash`, which becomes `st_ino`): files are numbered
//!   in the order the interpreter first asks about them; the same file keeps
//!   its number.
//! - Directory listings come sorted by name, whatever order the host's file
//!   system keeps them in.
//!
//! The numbering and the listings are per build (in [`crate::BuildState`]).

use std::collections::HashMap;

use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::filesystem::{Descriptor, WasiFilesystemCtxView, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, DirectoryEntry, DirectoryEntryStream, HostDescriptor, HostDirectoryEntryStream,
    MetadataHashValue,
};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, FsError, FsResult};

use crate::with_build;

/// The files one build has handed out so far.
#[derive(Default)]
pub(crate) struct Seen {
    /// Host identity (WASI's hash of device and inode) to the number given.
    identities: HashMap<(u64, u64), u64>,
    /// Sorted entries not yet read, by directory stream.
    listings: HashMap<u32, std::vec::IntoIter<DirectoryEntry>>,
}

/// Adds the pinned `wasi:filesystem/types` to `linker`, replacing WASI's.
pub(crate) fn add_to_linker<T: WasiFilesystemView + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, PinnedFilesystem>(linker, |t| PinnedFiles(t.filesystem()))
}

struct PinnedFilesystem;

impl HasData for PinnedFilesystem {
    type Data<'a> = PinnedFiles<'a>;
}

struct PinnedFiles<'a>(WasiFilesystemCtxView<'a>);

fn epoch() -> Option<Datetime> {
    Some(Datetime {
        seconds: 0,
        nanoseconds: 0,
    })
}

fn pinned(mut stat: types::DescriptorStat) -> types::DescriptorStat {
    stat.data_access_timestamp = epoch();
    stat.data_modification_timestamp = epoch();
    stat.status_change_timestamp = epoch();
    stat
}

fn numbered(hash: MetadataHashValue) -> MetadataHashValue {
    with_build(|build| {
        let seen = &mut build.files;
        let next = seen.identities.len() as u64 + 1;
        let number = *seen
            .identities
            .entry((hash.upper, hash.lower))
            .or_insert(next);
        MetadataHashValue {
            lower: number,
            upper: 0,
        }
    })
}

impl types::Host for PinnedFiles<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<types::ErrorCode> {
        types::Host::convert_error_code(&mut self.0, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<types::ErrorCode>> {
        types::Host::filesystem_error_code(&mut self.0, err)
    }
}

impl HostDescriptor for PinnedFiles<'_> {
    async fn advise(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
        len: types::Filesize,
        advice: types::Advice,
    ) -> FsResult<()> {
        HostDescriptor::advise(&mut self.0, fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        HostDescriptor::sync_data(&mut self.0, fd).await
    }

    async fn get_flags(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorFlags> {
        HostDescriptor::get_flags(&mut self.0, fd).await
    }

    async fn get_type(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorType> {
        HostDescriptor::get_type(&mut self.0, fd).await
    }

    async fn set_size(&mut self, fd: Resource<Descriptor>, size: types::Filesize) -> FsResult<()> {
        HostDescriptor::set_size(&mut self.0, fd, size).await
    }

    async fn set_times(
        &mut self,
        fd: Resource<Descriptor>,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        HostDescriptor::set_times(&mut self.0, fd, atim, mtim).await
    }

    async fn read(
        &mut self,
        fd: Resource<Descriptor>,
        len: types::Filesize,
        offset: types::Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        HostDescriptor::read(&mut self.0, fd, len, offset).await
    }

    async fn write(
        &mut self,
        fd: Resource<Descriptor>,
        buf: Vec<u8>,
        offset: types::Filesize,
    ) -> FsResult<types::Filesize> {
        HostDescriptor::write(&mut self.0, fd, buf, offset).await
    }

    async fn read_directory(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<DirectoryEntryStream>> {
        let stream = HostDescriptor::read_directory(&mut self.0, fd).await?;
        let mut entries = Vec::new();
        while let Some(entry) = HostDirectoryEntryStream::read_directory_entry(
            &mut self.0,
            Resource::new_borrow(stream.rep()),
        )
        .await?
        {
            entries.push(entry);
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        with_build(|build| {
            build
                .files
                .listings
                .insert(stream.rep(), entries.into_iter())
        });
        Ok(stream)
    }

    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        HostDescriptor::sync(&mut self.0, fd).await
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        HostDescriptor::create_directory_at(&mut self.0, fd, path).await
    }

    async fn stat(&mut self, fd: Resource<Descriptor>) -> FsResult<types::DescriptorStat> {
        HostDescriptor::stat(&mut self.0, fd).await.map(pinned)
    }

    async fn stat_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<types::DescriptorStat> {
        HostDescriptor::stat_at(&mut self.0, fd, path_flags, path)
            .await
            .map(pinned)
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        atim: types::NewTimestamp,
        mtim: types::NewTimestamp,
    ) -> FsResult<()> {
        HostDescriptor::set_times_at(&mut self.0, fd, path_flags, path, atim, mtim).await
    }

    async fn link_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path_flags: types::PathFlags,
        old_path: String,
        new_descriptor: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        HostDescriptor::link_at(
            &mut self.0,
            fd,
            old_path_flags,
            old_path,
            new_descriptor,
            new_path,
        )
        .await
    }

    async fn open_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
        oflags: types::OpenFlags,
        flags: types::DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        HostDescriptor::open_at(&mut self.0, fd, path_flags, path, oflags, flags).await
    }

    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        HostDescriptor::drop(&mut self.0, fd)
    }

    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        HostDescriptor::readlink_at(&mut self.0, fd, path).await
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        HostDescriptor::remove_directory_at(&mut self.0, fd, path).await
    }

    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        HostDescriptor::rename_at(&mut self.0, fd, old_path, new_fd, new_path).await
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<Descriptor>,
        src_path: String,
        dest_path: String,
    ) -> FsResult<()> {
        HostDescriptor::symlink_at(&mut self.0, fd, src_path, dest_path).await
    }

    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        HostDescriptor::unlink_file_at(&mut self.0, fd, path).await
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        HostDescriptor::read_via_stream(&mut self.0, fd, offset)
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: types::Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        HostDescriptor::write_via_stream(&mut self.0, fd, offset)
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        HostDescriptor::append_via_stream(&mut self.0, fd)
    }

    async fn is_same_object(
        &mut self,
        a: Resource<Descriptor>,
        b: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        HostDescriptor::is_same_object(&mut self.0, a, b).await
    }

    async fn metadata_hash(&mut self, fd: Resource<Descriptor>) -> FsResult<MetadataHashValue> {
        HostDescriptor::metadata_hash(&mut self.0, fd)
            .await
            .map(numbered)
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: types::PathFlags,
        path: String,
    ) -> FsResult<MetadataHashValue> {
        HostDescriptor::metadata_hash_at(&mut self.0, fd, path_flags, path)
            .await
            .map(numbered)
    }
}

impl HostDirectoryEntryStream for PinnedFiles<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<DirectoryEntryStream>,
    ) -> FsResult<Option<DirectoryEntry>> {
        let rep = stream.rep();
        let next = with_build(|build| {
            build
                .files
                .listings
                .get_mut(&rep)
                .map(|entries| entries.next())
        });
        match next {
            Some(entry) => Ok(entry),
            // Not listed through `read_directory`: WASI's own order.
            None => HostDirectoryEntryStream::read_directory_entry(&mut self.0, stream).await,
        }
    }

    fn drop(&mut self, stream: Resource<DirectoryEntryStream>) -> wasmtime::Result<()> {
        with_build(|build| build.files.listings.remove(&stream.rep()));
        HostDirectoryEntryStream::drop(&mut self.0, stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::start_build;

    fn hash(lower: u64) -> MetadataHashValue {
        MetadataHashValue { lower, upper: 7 }
    }

    #[test]
    fn files_are_numbered_in_the_order_first_seen_and_keep_their_number() {
        start_build();
        assert_eq!(numbered(hash(900)).lower, 1);
        assert_eq!(numbered(hash(55)).lower, 2);
        assert_eq!(numbered(hash(900)).lower, 1);
        // A new build numbers from the start again.
        start_build();
        assert_eq!(numbered(hash(55)).lower, 1);
    }

    #[test]
    fn stats_report_the_epoch() {
        let stat = types::DescriptorStat {
            type_: types::DescriptorType::RegularFile,
            link_count: 1,
            size: 3,
            data_access_timestamp: Some(Datetime {
                seconds: 1_800_000_000,
                nanoseconds: 5,
            }),
            data_modification_timestamp: None,
            status_change_timestamp: Some(Datetime {
                seconds: 1,
                nanoseconds: 0,
            }),
        };
        let stat = pinned(stat);
        for time in [
            stat.data_access_timestamp,
            stat.data_modification_timestamp,
            stat.status_change_timestamp,
        ] {
            assert_eq!(time.map(|t| (t.seconds, t.nanoseconds)), Some((0, 0)));
        }
        assert_eq!(stat.size, 3);
    }
}
