//! The library's runtime: one tokio runtime for every async step, and handle ids.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The library-owned runtime. Two workers: signalling and the WebRTC stack are I/O bound,
/// and capture and encoding run on threads of their own.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lp-runtime")
            .enable_all()
            .build()
            .expect("the library runtime cannot start: the process is out of threads")
    })
}

/// A fresh id for a handle. Ids are never reused, so a stale id can never reach a new object.
pub(crate) fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
