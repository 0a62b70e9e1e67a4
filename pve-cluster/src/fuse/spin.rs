//! Local mode: short polling of `/dev/fuse` between requests that come back to back.
//!
//! A FUSE round trip is two wake-ups: the kernel wakes the daemon for the request and
//! the client for the answer. When the two run on different CPUs and the daemon's
//! CPU sleeps between requests, each of its wake-ups is an interrupt to an idle CPU,
//! which on a virtual machine is a halt exit of the vCPU (8–11 µs here, see
//! docs/pmxcfs-cluster.md). A new file costs four round trips, so this is most of
//! what a create costs. After answering a request that came within
//! [`BURST_GAP`] of the previous answer, the FUSE thread therefore looks for the next
//! request for up to [`SPIN`] before it goes back to its sleeping read, yielding the
//! CPU between looks so that anything else runnable there (the client itself, if it
//! shares the CPU) goes first. A request that arrives meanwhile is read without a
//! wake-up. When a spin finds nothing, or finds that something else had the CPU
//! meanwhile (client and daemon on one CPU: the sleeping read costs nothing extra
//! there), spinning pauses for 2, 4, … up to 1024 requests. An idle daemon never
//! spins; a busy one spends at most [`SPIN`] per request.
//!
//! A spin that has the CPU to itself also starts the database transaction of a
//! change that may come next (`Memdb::change_ahead`), so that a change
//! arriving during a burst finds it begun; it is ended when a spin finds nothing or
//! the daemon stops spinning.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// A request this soon after the previous answer continues a burst.
const BURST_GAP: Duration = Duration::from_micros(50);
/// How long to look for the next request of a burst.
const SPIN: Duration = Duration::from_micros(50);
/// A `sched_yield` that took longer let another task run on this CPU.
const YIELD_RAN: Duration = Duration::from_micros(4);
/// Longest pause after fruitless spins: 2^10 requests.
const MAX_BACKOFF_SHIFT: u32 = 10;

fn now_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Shared between the FUSE thread's handlers (through [`Spin::guard`]) and the
/// mount code, which tells it the session's descriptor.
pub struct Spin {
    fd: AtomicI32,
    /// When the previous request was done (answered and spun after), 0 before any.
    last_done_ns: AtomicU64,
    /// Requests to answer without spinning.
    pause: AtomicU32,
    /// Fruitless spins in a row (the pause doubles with each).
    misses: AtomicU32,
    /// See [`Spin::with_ahead`].
    ahead: Option<Ahead>,
    /// `ahead(true)` was called since the last `ahead(false)`.
    ahead_begun: AtomicBool,
}

/// See [`Spin::with_ahead`].
pub type Ahead = Box<dyn Fn(bool) + Send + Sync>;

impl Spin {
    pub fn new() -> Arc<Spin> {
        Self::build(None)
    }

    /// Polling that calls `ahead(true)` once in every spin that has the CPU to
    /// itself (a `sched_yield` found nothing else to run) while it looks for the next
    /// request of a burst, and `ahead(false)` when the burst is over (a spin found
    /// nothing, or a request is answered without spinning) if `ahead(true)` came
    /// since the last `ahead(false)`. A change between two spins may have used up
    /// what the first began, so `ahead(true)` must begin only what is not begun.
    pub fn with_ahead(ahead: Ahead) -> Arc<Spin> {
        Self::build(Some(ahead))
    }

    fn build(ahead: Option<Ahead>) -> Arc<Spin> {
        Arc::new(Spin {
            fd: AtomicI32::new(-1),
            last_done_ns: AtomicU64::new(0),
            pause: AtomicU32::new(0),
            misses: AtomicU32::new(0),
            ahead,
            ahead_begun: AtomicBool::new(false),
        })
    }

    fn begin_ahead(&self) {
        if let Some(f) = &self.ahead {
            self.ahead_begun.store(true, Relaxed);
            f(true);
        }
    }

    fn end_ahead(&self) {
        if let Some(f) = &self.ahead {
            if self.ahead_begun.swap(false, Relaxed) {
                f(false);
            }
        }
    }

    /// The session's `/dev/fuse` descriptor; no spinning before it is known.
    pub fn set_fd(&self, fd: RawFd) {
        self.fd.store(fd, Relaxed);
    }

    /// Taken at the start of a request; dropped after its answer was sent.
    pub fn guard(self: &Arc<Self>) -> SpinGuard {
        let last = self.last_done_ns.load(Relaxed);
        let gap = now_ns().saturating_sub(last);
        SpinGuard {
            spin: self.clone(),
            burst: last != 0 && gap < BURST_GAP.as_nanos() as u64,
        }
    }

    /// Looks for the next request; true if it came while this thread had the CPU.
    fn spin(&self, fd: RawFd) -> bool {
        let deadline = now_ns() + SPIN.as_nanos() as u64;
        let mut begun = false;
        loop {
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, zero timeout. A closed session's descriptor
            // reports an error (non-zero), which ends the loop too.
            if unsafe { libc::poll(&mut pfd, 1, 0) } != 0 {
                return true;
            }
            let before = now_ns();
            if before >= deadline {
                return false;
            }
            // SAFETY: no arguments; it cannot fail on Linux.
            unsafe { libc::sched_yield() };
            if now_ns() - before > YIELD_RAN.as_nanos() as u64 {
                return false;
            }
            // Nothing else wants this CPU: prepare for a change meanwhile.
            if !begun {
                self.begin_ahead();
                begun = true;
            }
        }
    }
}

pub struct SpinGuard {
    spin: Arc<Spin>,
    /// The request came within [`BURST_GAP`] of the previous answer.
    burst: bool,
}

impl Drop for SpinGuard {
    fn drop(&mut self) {
        let s = &self.spin;
        let fd = s.fd.load(Relaxed);
        let pause = s.pause.load(Relaxed);
        let mut found = false;
        if pause > 0 {
            s.pause.store(pause - 1, Relaxed);
        } else if self.burst && fd >= 0 {
            found = s.spin(fd);
            if found {
                s.misses.store(0, Relaxed);
            } else {
                let misses = (s.misses.load(Relaxed) + 1).min(MAX_BACKOFF_SHIFT);
                s.misses.store(misses, Relaxed);
                s.pause.store(1 << misses, Relaxed);
            }
        }
        if !found {
            s.end_ahead();
        }
        s.last_done_ns.store(now_ns(), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// A request answered as part of a burst (whatever the timing of this test).
    fn answer_in_burst(s: &Arc<Spin>) {
        drop(SpinGuard {
            spin: s.clone(),
            burst: true,
        });
    }

    #[test]
    fn spins_only_in_bursts_and_pauses_after_finding_nothing() {
        let (rx, mut tx) = std::os::unix::net::UnixStream::pair().unwrap();
        let s = Spin::new();
        // No descriptor yet: nothing to poll, no pause either.
        answer_in_burst(&s);
        assert_eq!(s.pause.load(Relaxed), 0);
        s.set_fd(rx.as_raw_fd());

        // A first request (no answer before it) does not spin.
        drop(Spin::new().guard());
        let lone = Spin::new();
        lone.set_fd(rx.as_raw_fd());
        drop(lone.guard());
        assert_eq!(lone.misses.load(Relaxed), 0);

        // Nothing arrives: the spin ends (after 50 µs, or at the first yield that
        // let another task run) and spinning pauses for 2 requests, then for 4
        // after the next fruitless spin.
        answer_in_burst(&s);
        assert_eq!((s.misses.load(Relaxed), s.pause.load(Relaxed)), (1, 2));
        answer_in_burst(&s);
        answer_in_burst(&s);
        assert_eq!((s.misses.load(Relaxed), s.pause.load(Relaxed)), (1, 0));
        answer_in_burst(&s);
        assert_eq!((s.misses.load(Relaxed), s.pause.load(Relaxed)), (2, 4));

        // A request already waiting ends the spin at once and clears the misses.
        std::io::Write::write_all(&mut tx, b"x").unwrap();
        s.pause.store(0, Relaxed);
        answer_in_burst(&s);
        assert_eq!((s.misses.load(Relaxed), s.pause.load(Relaxed)), (0, 0));
    }

    #[test]
    fn a_spin_begins_ahead_and_the_end_of_the_burst_ends_it() {
        let (rx, mut tx) = std::os::unix::net::UnixStream::pair().unwrap();
        let calls = Arc::new(std::sync::Mutex::new(Vec::<bool>::new()));
        let c = calls.clone();
        let s = Spin::with_ahead(Box::new(move |begin| c.lock().unwrap().push(begin)));
        s.set_fd(rx.as_raw_fd());
        let taken = || -> Vec<bool> { std::mem::take(&mut *calls.lock().unwrap()) };
        // Answers outside a burst: nothing begun, nothing to end.
        drop(s.guard());
        assert!(taken().is_empty());
        // A spin that finds nothing ends what it began (if its CPU was free long
        // enough to begin anything).
        answer_in_burst(&s);
        let calls = taken();
        assert!(calls.is_empty() || calls == [true, false], "{calls:?}");
        // Every spin with the CPU to itself begins again, because the change
        // answered before it may have used up what the previous spin began; only
        // one end follows, and only if something was begun.
        s.begin_ahead();
        s.begin_ahead();
        assert_eq!(taken(), [true, true]);
        // What was begun stays while spins find the next request ...
        s.pause.store(0, Relaxed);
        std::io::Write::write_all(&mut tx, b"x").unwrap();
        answer_in_burst(&s);
        answer_in_burst(&s);
        assert!(taken().is_empty());
        // ... until one finds nothing.
        std::io::Read::read_exact(&mut &rx, &mut [0u8]).unwrap();
        answer_in_burst(&s);
        let calls = taken();
        assert!(calls == [false] || calls == [true, false], "{calls:?}");
        s.end_ahead();
        assert!(taken().is_empty());
        // Paused: not begun, so not ended either.
        answer_in_burst(&s);
        assert!(taken().is_empty());
    }
}
