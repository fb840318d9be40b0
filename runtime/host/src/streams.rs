//! The host side of the contract's `streams` import (since 0.1.5): artifact
//! values written and read a piece at a time. A value written this way is
//! checked as it comes (`StreamValidator` holds only its structure) and
//! stored as it comes, through the task's [`BlobSource::create`]; the host
//! keeps a few chunks of it at most. A value read this way is fetched a few
//! chunks ahead of the guest. Either way it is the same artifact, with the
//! same hash, as one set or read whole.
//!
//! A value may also be written through the task's stdout (since 0.1.6,
//! `start-set-from-stdout`): the writer is handed to the stdout stream,
//! which appends what the guest writes, until `finish-set` takes it back.
//! componentize-py 0.25 keeps a copy of every `list<u8>` a Python step
//! passes to the host until its instance ends; a write to a file
//! descriptor goes from the guest's own buffer and keeps nothing.

use bytes::Bytes;
use mfw_encoding::StreamValidator;
use mfw_graph::BlobHash;
use tokio::runtime::RuntimeFlavor;
use wasmtime::component::Resource;

use crate::bindings::mfw::flow::streams;
use crate::bindings::mfw::flow::types::ArtifactError;
use crate::imports::{NO_TASK, check_name};
use crate::output::Capture;
use crate::task::{BlobError, BlobRead, BlobWrite, Running, Slot, TaskState, WholeValue};

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
    /// The most bytes the value may have (streamed or held).
    limit: u64,
    /// Whether the task's stdout holds this writer's value (see
    /// [`StdoutValue`]); this one is then a stand-in for it.
    from_stdout: bool,
}

/// Where a written value's bytes go.
enum Destination {
    /// Stored as they come.
    Store(Box<dyn BlobWrite>),
    /// Held, when the task's blob source cannot store as it goes.
    Memory(Vec<u8>),
}

/// Why bytes were not appended to a value.
pub(crate) enum AppendError {
    /// The value refuses them: too large, or not the mfw encoding.
    Refused(ArtifactError),
    /// The datastore failed to store them.
    Storage(BlobError),
}

impl ValueWriter {
    /// Checks `bytes` as the value's next ones and stores (or holds) them.
    fn append(&mut self, bytes: Vec<u8>) -> Result<(), AppendError> {
        let name = &self.name;
        let total = self.check.len().saturating_add(bytes.len() as u64);
        if total > self.limit {
            return Err(AppendError::Refused(ArtifactError::TooLarge(self.limit)));
        }
        self.check.feed(&bytes).map_err(|e| {
            AppendError::Refused(ArtifactError::InvalidValue(format!(
                "the value written for `{name}` is not in the mfw encoding: {e}"
            )))
        })?;
        if self.check.structure_len() > MAX_STRUCTURE {
            return Err(AppendError::Refused(ArtifactError::InvalidValue(format!(
                "the value written for `{name}` has more than {} MB outside its byte strings: \
                 write it with `artifacts.set`",
                MAX_STRUCTURE >> 20
            ))));
        }
        match &mut self.into {
            Destination::Store(sink) => sink.write(bytes).map_err(AppendError::Storage),
            Destination::Memory(held) => {
                held.extend_from_slice(&bytes);
                Ok(())
            }
        }
    }
}

/// A value the task writes through its stdout (`start-set-from-stdout`):
/// the stdout stream holds it and appends every byte written to it. The
/// first refusal is kept; later writes fail at once, and `finish-set`
/// reports it.
pub(crate) struct StdoutValue {
    writer: ValueWriter,
    failed: Option<AppendError>,
}

impl StdoutValue {
    /// Appends what the guest wrote to stdout; an error fails its write.
    pub(crate) fn append(&mut self, bytes: Vec<u8>) -> Result<(), String> {
        if self.failed.is_none() {
            let writer = &mut self.writer;
            // Storing may wait for the datastore. WASI's
            // `blocking-write-and-flush` runs this inside wasmtime-wasi's
            // (multi-threaded) runtime, where waiting must be announced.
            let appended = match tokio::runtime::Handle::try_current() {
                Err(_) => writer.append(bytes),
                Ok(runtime) if runtime.runtime_flavor() == RuntimeFlavor::MultiThread => {
                    tokio::task::block_in_place(|| writer.append(bytes))
                }
                Ok(_) => Err(AppendError::Refused(ArtifactError::Storage(
                    "a value cannot be written through stdout from this runtime: \
                     write it with `check-write` and `write`"
                        .to_string(),
                ))),
            };
            match appended {
                Ok(()) => return Ok(()),
                Err(e) => self.failed = Some(e),
            }
        }
        Err(format!(
            "the value of `{}` refused these bytes: finish-set says why",
            self.writer.name
        ))
    }
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

impl Running {
    /// A writer for the value of the artifact `name`.
    fn value_writer(&mut self, name: String) -> Result<ValueWriter, ArtifactError> {
        check_name(&name)?;
        let replaces = self.artifacts.get(&name).map(Slot::hash);
        let (into, limit) = match self.blobs.create(replaces) {
            Some(writer) => (Destination::Store(writer), self.max_streamed_bytes),
            None => (Destination::Memory(Vec::new()), self.max_artifact_bytes),
        };
        Ok(ValueWriter {
            name,
            check: StreamValidator::new(),
            into,
            limit,
            from_stdout: false,
        })
    }
}

impl TaskState {
    fn push_writer(&mut self, writer: ValueWriter) -> Result<Resource<ValueWriter>, ArtifactError> {
        self.table
            .push(writer)
            .map_err(|e| ArtifactError::Storage(format!("cannot start a value: {e}")))
    }

    /// Takes back from stdout the value `stand_in` stands for, and gives
    /// the task its stdout again.
    fn take_from_stdout(&self, stand_in: &ValueWriter) -> Option<StdoutValue> {
        if !stand_in.from_stdout {
            return None;
        }
        self.stdout.as_ref().and_then(Capture::take_value)
    }
}

impl streams::Host for TaskState {
    fn start_set(&mut self, name: String) -> Result<Resource<ValueWriter>, ArtifactError> {
        let writer = self.running()?.value_writer(name)?;
        self.push_writer(writer)
    }

    fn start_set_from_stdout(
        &mut self,
        name: String,
    ) -> Result<Resource<ValueWriter>, ArtifactError> {
        let writer = self.running()?.value_writer(name)?;
        let Some(stdout) = &self.stdout else {
            return Err(ArtifactError::Storage(NO_TASK.to_string()));
        };
        let stand_in = ValueWriter {
            name: writer.name.clone(),
            check: StreamValidator::new(),
            into: Destination::Memory(Vec::new()),
            limit: 0,
            from_stdout: true,
        };
        let value = StdoutValue {
            writer,
            failed: None,
        };
        if !stdout.give_value(value) {
            return Err(ArtifactError::Storage(
                "stdout already holds a value being written: finish it first".to_string(),
            ));
        }
        self.push_writer(stand_in)
    }

    fn finish_set(&mut self, writer: Resource<ValueWriter>) -> Result<(), ArtifactError> {
        let mut writer = self
            .table
            .delete(writer)
            .map_err(|e| ArtifactError::Storage(format!("no such value writer: {e}")))?;
        if writer.from_stdout {
            let Some(value) = self.take_from_stdout(&writer) else {
                return Err(ArtifactError::Storage(
                    "the value written through stdout was lost".to_string(),
                ));
            };
            writer = value.writer;
            match value.failed {
                None => {}
                Some(AppendError::Refused(e)) => return Err(e),
                Some(AppendError::Storage(e)) => {
                    let doing = format!("cannot store artifact `{}`", writer.name);
                    return Err(self.running()?.storage_failure(&doing, &e));
                }
            }
        }
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
        let writer = self
            .table
            .get_mut(&writer)
            .map_err(|e| ArtifactError::Storage(format!("no such value writer: {e}")))?;
        let name = writer.name.clone();
        let appended = if writer.from_stdout {
            // Through stdout's value, so the bytes keep their order.
            match self.stdout.as_ref() {
                Some(stdout) => stdout.with_value(|value| value.writer.append(bytes)),
                None => None,
            }
            .unwrap_or_else(|| {
                Err(AppendError::Refused(ArtifactError::Storage(
                    "the value written through stdout was lost".to_string(),
                )))
            })
        } else {
            writer.append(bytes)
        };
        match appended {
            Ok(()) => Ok(()),
            Err(AppendError::Refused(e)) => Err(e),
            Err(AppendError::Storage(e)) => {
                Err(task.storage_failure(&format!("cannot store artifact `{name}`"), &e))
            }
        }
    }

    fn drop(&mut self, writer: Resource<ValueWriter>) -> wasmtime::Result<()> {
        // Nothing is set; chunks already stored are named by no record.
        let writer = self.table.delete(writer)?;
        // Gives the task its stdout back.
        drop(self.take_from_stdout(&writer));
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
