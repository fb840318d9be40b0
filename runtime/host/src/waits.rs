//! When a task must stop: its `@timeout` deadline or Ctrl-C.
//!
//! Epoch interruption stops a guest only while it runs wasm code. A guest
//! that sleeps or waits on a stream is inside the host, in WASI's
//! `wasi:io/poll`, and would run out its wait first (`time.sleep(20)` under
//! `@timeout(seconds=2)` took 20 s). So `poll` and `pollable.block` are
//! replaced here by versions that wait in short slices and trap as soon as
//! the task must stop; what they wait on, and what they return, is WASI's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::io::poll::{Host, HostPollable};

use crate::task::TaskState;

/// The WASI interface (and version) whose waits are replaced.
const POLL_INTERFACE: &str = "wasi:io/poll@0.2.12";

/// How long one slice of a wait lasts: how soon Ctrl-C stops a waiting task.
const SLICE: Duration = Duration::from_millis(50);

/// Why and when a task stops early, shared by the epoch callback (for a
/// guest running code) and the waits below (for a guest waiting).
#[derive(Clone, Default)]
pub(crate) struct Stop {
    deadline: Option<Instant>,
    cancel: Option<Arc<AtomicBool>>,
    timed_out: Arc<AtomicBool>,
}

impl Stop {
    /// A task that stops at `timeout` from now, or when `cancel` is set.
    pub(crate) fn new(timeout: Option<Duration>, cancel: Option<Arc<AtomicBool>>) -> Self {
        Stop {
            deadline: timeout.map(|t| Instant::now() + t),
            cancel,
            timed_out: Arc::default(),
        }
    }

    /// Whether the task must stop now; records a passed deadline, which
    /// `timed_out` then reports.
    pub(crate) fn now(&self) -> bool {
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return true;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.timed_out.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// Whether the task was stopped by its deadline (not by Ctrl-C).
    pub(crate) fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::Relaxed)
    }

    /// The next slice of a wait: never past the deadline.
    fn slice(&self) -> Duration {
        self.deadline.map_or(SLICE, |d| {
            SLICE.min(d.saturating_duration_since(Instant::now()))
        })
    }
}

/// Makes `stop` the store's: checked on every epoch tick while the guest
/// runs code, and by the waits below while it waits.
pub(crate) fn stop_store_at(store: &mut wasmtime::Store<TaskState>, stop: Stop) {
    store.data_mut().stop = stop.clone();
    store.epoch_deadline_callback(move |_| {
        Ok(if stop.now() {
            wasmtime::UpdateDeadline::Interrupt
        } else {
            wasmtime::UpdateDeadline::Continue(1)
        })
    });
    store.set_epoch_deadline(1);
}

/// The trap a stopped wait ends in: the same `Interrupt` an epoch deadline
/// gives, so a task stopped while waiting is reported as one stopped while
/// running.
fn stopped() -> wasmtime::Error {
    wasmtime::Error::from(wasmtime::Trap::Interrupt)
}

/// Replaces WASI's `poll` and `[method]pollable.block` in `linker` (which
/// must allow shadowing) with waits that end when the task must stop.
pub(crate) fn bound_waits(linker: &mut Linker<TaskState>) -> wasmtime::Result<()> {
    let mut poll = linker.instance(POLL_INTERFACE)?;
    poll.func_wrap(
        "poll",
        |mut store: wasmtime::StoreContextMut<'_, TaskState>,
         (pollables,): (Vec<Resource<DynPollable>>,)| {
            let stop = store.data().stop.clone();
            loop {
                if stop.now() {
                    return Err(stopped());
                }
                // The list borrows its pollables: each slice borrows them again.
                let again = pollables
                    .iter()
                    .map(|p| Resource::new_borrow(p.rep()))
                    .collect();
                let table = &mut store.data_mut().table;
                let waited = wasmtime_wasi::runtime::in_tokio(tokio::time::timeout(
                    stop.slice(),
                    Host::poll(table, again),
                ));
                if let Ok(ready) = waited {
                    return Ok((ready?,));
                }
            }
        },
    )?;
    poll.func_wrap(
        "[method]pollable.block",
        |mut store: wasmtime::StoreContextMut<'_, TaskState>,
         (pollable,): (Resource<DynPollable>,)| {
            let stop = store.data().stop.clone();
            loop {
                if stop.now() {
                    return Err(stopped());
                }
                let again = Resource::new_borrow(pollable.rep());
                let table = &mut store.data_mut().table;
                let waited = wasmtime_wasi::runtime::in_tokio(tokio::time::timeout(
                    stop.slice(),
                    HostPollable::block(table, again),
                ));
                if let Ok(done) = waited {
                    return done;
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passed_deadline_stops_and_is_a_timeout() {
        let stop = Stop::new(Some(Duration::ZERO), None);
        assert!(stop.now());
        assert!(stop.timed_out());
    }

    #[test]
    fn cancelling_stops_without_a_timeout() {
        let cancel = Arc::new(AtomicBool::new(false));
        let stop = Stop::new(Some(Duration::from_secs(3600)), Some(cancel.clone()));
        assert!(!stop.now());
        cancel.store(true, Ordering::Relaxed);
        assert!(stop.now());
        assert!(!stop.timed_out());
    }

    #[test]
    fn a_slice_never_passes_the_deadline() {
        let stop = Stop::new(Some(Duration::from_millis(5)), None);
        assert!(stop.slice() <= Duration::from_millis(5));
        assert_eq!(Stop::new(None, None).slice(), SLICE);
    }
}
