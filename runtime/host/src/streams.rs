//! The host side of the contract's `streams` import (since 0.1.5): artifact
//! values written and read a piece at a time. A value written this way is
//! checked as it comes (`StreamValidator` holds only its structure) and
//! stored as it comes, through the task's [`BlobSource::create`]; the host
//! keeps a few chunks of it at most. A value read this way is fetched a few
//! chunks ahead of the guest. Either way it is the same artifact, with the
//! same hash, as one set or read whole.

use bytes::Bytes;
use mfw_encoding::StreamValidator;
use mfw_graph::BlobHash;
use wasmtime::component::Resource;

use crate::bindings::mfw::flow::streams;
use crate::bindings::mfw::flow::types::ArtifactError;
use crate::imports::{NO_TASK, check_name};
use crate::task::{BlobRead, BlobWrite, Running, Slot, TaskState, WholeValue};

/// The most a `read` gives at once, whatever the guest asks.
const MAX_READ: usize = 16 << 20;

/// The most structure (everything but long byte strings) a streamed value
/// may have: the host holds it to check the value.
const MAX_STRUCTURE: usize = 64 << 20;

/// A value being written, as the guest's `value-writer` resource.
pub struct ValueWriter {
    name: String,
    check: StreamValidator,
    into: Destination,
}

/// Where a written value's bytes go.
enum Destination {
    /// Stored as they come.
    Store(Box<dyn BlobWrite>),
    /// Held, when the task's blob source cannot store as it goes.
    Memory(Vec<u8>),
}

/// A value being read, as the guest's `value-reader` resource.
pub struct ValueReader {
    what: String,
    source: Box<dyn BlobRead>,
    /// What is left of the piece read last.
    piece: Bytes,
}

impl Running {
    /// Opens the value in `slot`, which this task knows as `what`.
    fn open(&mut self, slot: Slot, what: String) -> Result<ValueReader, ArtifactError> {
        let source: Box<dyn BlobRead> = match slot {
            Slot::Set(_, bytes) => Box::new(WholeValue(Some(bytes))),
            Slot::Stored(hash) => match self.blobs.open(&hash) {
                Ok(source) => source,
                Err(e) => return Err(self.storage_failure(&format!("cannot read {what}"), &e)),
            },
        };
        Ok(ValueReader {
            what,
            source,
            piece: Bytes::new(),
        })
    }
}

impl streams::Host for TaskState {
    fn start_set(&mut self, name: String) -> Result<Resource<ValueWriter>, ArtifactError> {
        let task = self.running()?;
        check_name(&name)?;
        let into = match task.blobs.create() {
            Some(writer) => Destination::Store(writer),
            None => Destination::Memory(Vec::new()),
        };
        let writer = ValueWriter {
            name,
            check: StreamValidator::new(),
            into,
        };
        self.table
            .push(writer)
            .map_err(|e| ArtifactError::Storage(format!("cannot start a value: {e}")))
    }

    fn finish_set(&mut self, writer: Resource<ValueWriter>) -> Result<(), ArtifactError> {
        let writer = self
            .table
            .delete(writer)
            .map_err(|e| ArtifactError::Storage(format!("no such value writer: {e}")))?;
        let task = self.running()?;
        let name = writer.name;
        writer.check.finish().map_err(|e| {
            ArtifactError::InvalidValue(format!(
                "the value written for `{name}` is not in the mfw encoding: {e}"
            ))
        })?;
        let slot = match writer.into {
            Destination::Store(sink) => match sink.finish() {
                Ok(hash) => Slot::Stored(hash),
                Err(e) => {
                    return Err(
                        task.storage_failure(&format!("cannot store artifact `{name}`"), &e)
                    );
                }
            },
            Destination::Memory(value) => {
                let hash = BlobHash::of(&value);
                Slot::Set(hash, task.hold(hash, value)?)
            }
        };
        task.artifacts.insert(name, slot);
        Ok(())
    }

    fn open_get(&mut self, name: String) -> Result<Resource<ValueReader>, ArtifactError> {
        let task = self.running()?;
        let (slot, what) = task.locate(&name)?;
        let reader = task.open(slot, what)?;
        self.push_reader(reader)
    }

    fn open_input_get(
        &mut self,
        index: u32,
        name: String,
    ) -> Result<Resource<ValueReader>, ArtifactError> {
        let task = self.running()?;
        let (slot, what) = task.locate_input(index, &name)?;
        let reader = task.open(slot, what)?;
        self.push_reader(reader)
    }
}

impl TaskState {
    fn push_reader(&mut self, reader: ValueReader) -> Result<Resource<ValueReader>, ArtifactError> {
        self.table
            .push(reader)
            .map_err(|e| ArtifactError::Storage(format!("cannot open a value: {e}")))
    }
}

impl streams::HostValueWriter for TaskState {
    fn write(
        &mut self,
        writer: Resource<ValueWriter>,
        bytes: Vec<u8>,
    ) -> Result<(), ArtifactError> {
        let Some(task) = self.task.as_mut() else {
            return Err(ArtifactError::Storage(NO_TASK.to_string()));
        };
        task.check_call(bytes.len())?;
        let (max_streamed, max_held) = (task.max_streamed_bytes, task.max_artifact_bytes);
        let writer = self
            .table
            .get_mut(&writer)
            .map_err(|e| ArtifactError::Storage(format!("no such value writer: {e}")))?;
        let name = writer.name.clone();
        let total = writer.check.len().saturating_add(bytes.len() as u64);
        let limit = match writer.into {
            Destination::Store(_) => max_streamed,
            Destination::Memory(_) => max_held,
        };
        if total > limit {
            return Err(ArtifactError::TooLarge(limit));
        }
        writer.check.feed(&bytes).map_err(|e| {
            ArtifactError::InvalidValue(format!(
                "the value written for `{name}` is not in the mfw encoding: {e}"
            ))
        })?;
        if writer.check.structure_len() > MAX_STRUCTURE {
            return Err(ArtifactError::InvalidValue(format!(
                "the value written for `{name}` has more than {} MB outside its byte strings: \
                 write it with `artifacts.set`",
                MAX_STRUCTURE >> 20
            )));
        }
        let stored = match &mut writer.into {
            Destination::Store(sink) => sink.write(bytes),
            Destination::Memory(held) => {
                held.extend_from_slice(&bytes);
                Ok(())
            }
        };
        if let Err(e) = stored {
            return Err(task.storage_failure(&format!("cannot store artifact `{name}`"), &e));
        }
        Ok(())
    }

    fn drop(&mut self, writer: Resource<ValueWriter>) -> wasmtime::Result<()> {
        // Nothing is set; chunks already stored are named by no record.
        self.table.delete(writer)?;
        Ok(())
    }
}

impl streams::HostValueReader for TaskState {
    fn size(&mut self, reader: Resource<ValueReader>) -> u64 {
        self.table
            .get(&reader)
            .map_or(0, |reader| reader.source.size())
    }

    fn read(&mut self, reader: Resource<ValueReader>, max: u32) -> Result<Vec<u8>, ArtifactError> {
        let Some(task) = self.task.as_mut() else {
            return Err(ArtifactError::Storage(NO_TASK.to_string()));
        };
        let reader = self
            .table
            .get_mut(&reader)
            .map_err(|e| ArtifactError::Storage(format!("no such value reader: {e}")))?;
        let max = (max as usize).clamp(1, MAX_READ);
        let mut out = Vec::new();
        while out.len() < max {
            if reader.piece.is_empty() {
                match reader.source.next_piece() {
                    Ok(Some(piece)) => reader.piece = piece,
                    Ok(None) => break,
                    Err(e) => {
                        let what = reader.what.clone();
                        return Err(task.storage_failure(&format!("cannot read {what}"), &e));
                    }
                }
                continue;
            }
            let n = reader.piece.len().min(max - out.len());
            out.extend_from_slice(&reader.piece.split_to(n));
        }
        Ok(out)
    }

    fn drop(&mut self, reader: Resource<ValueReader>) -> wasmtime::Result<()> {
        self.table.delete(reader)?;
        Ok(())
    }
}
