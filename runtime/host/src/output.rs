//! A task's stdout and stderr: kept whole for its log, and passed on line by
//! line as they are written so the terminal shows them live.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream as WasiOutputStream, Pollable, StreamError, StreamResult};

use crate::streams::StdoutValue;

/// Which of a task's output streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputStream {
    /// Standard output.
    Stdout,
    /// Standard error, and messages from the `logging` interface.
    Stderr,
}

/// Receives every complete line a task writes, as it is written (without
/// the newline). Lines that are not UTF-8 are shown lossily.
///
/// ```
/// use std::sync::Arc;
/// use mfw_host::{OutputSink, OutputStream};
/// let sink: OutputSink = Arc::new(|stream: OutputStream, line: &str| {
///     if stream == OutputStream::Stdout {
///         println!("start/0: {line}");
///     }
/// });
/// sink(OutputStream::Stdout, "hello");
/// ```
pub type OutputSink = Arc<dyn Fn(OutputStream, &str) + Send + Sync>;

/// How many bytes of each stream a task's log keeps; the rest is counted
/// and reported, so a chatty step cannot exhaust the host's memory.
const LOG_LIMIT: usize = 64 << 20;

struct Inner {
    stream: OutputStream,
    log: Vec<u8>,
    dropped: u64,
    pending: Vec<u8>,
    sink: Option<OutputSink>,
    /// A value written through this stream instead of output, while the
    /// task writes one (`streams.start-set-from-stdout`).
    value: Option<StdoutValue>,
}

impl Inner {
    fn write(&mut self, bytes: &[u8]) {
        let room = LOG_LIMIT.saturating_sub(self.log.len());
        let kept = bytes.len().min(room);
        self.log.extend_from_slice(&bytes[..kept]);
        self.dropped += (bytes.len() - kept) as u64;
        let Some(sink) = &self.sink else { return };
        let mut rest = bytes;
        while let Some(newline) = rest.iter().position(|b| *b == b'\n') {
            self.pending.extend_from_slice(&rest[..newline]);
            let line = String::from_utf8_lossy(&self.pending);
            sink(self.stream, line.trim_end_matches('\r'));
            self.pending.clear();
            rest = &rest[newline + 1..];
        }
        // Bound a line that never ends, for the same reason as the log.
        let room = LOG_LIMIT.saturating_sub(self.pending.len());
        self.pending
            .extend_from_slice(&rest[..rest.len().min(room)]);
    }
}

/// One captured stream of one task.
#[derive(Clone)]
pub(crate) struct Capture(Arc<Mutex<Inner>>);

impl Capture {
    pub(crate) fn new(stream: OutputStream, sink: Option<OutputSink>) -> Self {
        Capture(Arc::new(Mutex::new(Inner {
            stream,
            log: Vec::new(),
            dropped: 0,
            pending: Vec::new(),
            sink,
            value: None,
        })))
    }

    pub(crate) fn write(&self, bytes: &[u8]) {
        if let Ok(mut inner) = self.0.lock() {
            inner.write(bytes);
        }
    }

    /// Writes what the guest wrote: to the value this stream holds, if
    /// any, else to the output. An error is the value's refusal.
    fn write_guest(&self, bytes: Bytes) -> Result<(), String> {
        let Ok(mut inner) = self.0.lock() else {
            return Ok(());
        };
        match inner.value.as_mut() {
            Some(value) => value.append(Vec::from(bytes)),
            None => {
                inner.write(&bytes);
                Ok(())
            }
        }
    }

    /// Makes the stream write `value` instead of output; `false` (and
    /// nothing changes) if it already holds one.
    pub(crate) fn give_value(&self, value: StdoutValue) -> bool {
        let Ok(mut inner) = self.0.lock() else {
            return false;
        };
        if inner.value.is_some() {
            return false;
        }
        inner.value = Some(value);
        true
    }

    /// Takes back the value the stream holds: output is output again.
    pub(crate) fn take_value(&self) -> Option<StdoutValue> {
        self.0.lock().ok()?.value.take()
    }

    /// Calls `f` with the value the stream holds, if any.
    pub(crate) fn with_value<T>(&self, f: impl FnOnce(&mut StdoutValue) -> T) -> Option<T> {
        self.0.lock().ok()?.value.as_mut().map(f)
    }

    /// Passes on an unfinished last line and returns the whole log.
    pub(crate) fn finish(&self) -> Vec<u8> {
        let Ok(mut inner) = self.0.lock() else {
            return Vec::new();
        };
        if !inner.pending.is_empty() {
            if let Some(sink) = &inner.sink {
                sink(inner.stream, &String::from_utf8_lossy(&inner.pending));
            }
            inner.pending.clear();
        }
        let mut log = std::mem::take(&mut inner.log);
        if inner.dropped > 0 {
            log.extend_from_slice(
                format!(
                    "\n[mfw: {} more bytes of output were not kept]\n",
                    inner.dropped
                )
                .as_bytes(),
            );
        }
        log
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn WasiOutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl WasiOutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_guest(bytes)
            .map_err(|e| StreamError::LastOperationFailed(wasmtime::Error::msg(e)))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1 << 20)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = self.write_guest(Bytes::copy_from_slice(buf));
        Poll::Ready(written.map(|()| buf.len()).map_err(io::Error::other))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_passed_on_as_written_and_kept_whole() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let sink: OutputSink =
            Arc::new(move |_, line| seen2.lock().unwrap().push(line.to_string()));
        let capture = Capture::new(OutputStream::Stdout, Some(sink));
        capture.write(b"hel");
        capture.write(b"lo\nwor");
        assert_eq!(*seen.lock().unwrap(), ["hello"]);
        capture.write(b"ld");
        let log = capture.finish();
        assert_eq!(*seen.lock().unwrap(), ["hello", "world"]);
        assert_eq!(log, b"hello\nworld");
    }
}
