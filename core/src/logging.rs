//! Routes the library's `tracing` records to a host callback (C, Python `logging`, Node).
//!
//! Rust hosts install their own `tracing` subscriber instead and never call this.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, RwLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use crate::error::{Error, Result};

/// The level a binding routes logs at until the host chooses one: milestones and trouble,
/// not the per-packet detail.
pub const DEFAULT_LOG_LEVEL: LogLevel = LogLevel::Info;

/// Severity of a log record; the numbers are the C API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i32)]
pub enum LogLevel {
    /// Nothing is logged.
    Off = 0,
    /// Failures.
    Error = 1,
    /// Recoverable trouble.
    Warn = 2,
    /// Milestones: connected, published.
    Info = 3,
    /// Detail for debugging.
    Debug = 4,
    /// Everything, including the WebRTC stack's chatter.
    Trace = 5,
}

impl LogLevel {
    /// The level for a C number, if valid.
    pub fn from_i32(level: i32) -> Option<LogLevel> {
        Some(match level {
            0 => LogLevel::Off,
            1 => LogLevel::Error,
            2 => LogLevel::Warn,
            3 => LogLevel::Info,
            4 => LogLevel::Debug,
            5 => LogLevel::Trace,
            _ => return None,
        })
    }

    /// Lower-case name: `"warn"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Off => "off",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }

    /// The level named `name` (`"warn"`, any case, spaces around ignored); another name is
    /// 1011 naming `level` and listing the names.
    pub fn from_name(name: &str) -> Result<LogLevel> {
        let levels = || (0..=5).filter_map(LogLevel::from_i32);
        let name = name.trim().to_ascii_lowercase();
        levels().find(|l| l.as_str() == name).ok_or_else(|| {
            let names: Vec<_> = levels().map(|l| format!("{:?}", l.as_str())).collect();
            Error::invalid_parameter("level", format!("expected one of {}", names.join(", ")))
        })
    }

    fn of(level: &Level) -> LogLevel {
        match *level {
            Level::ERROR => LogLevel::Error,
            Level::WARN => LogLevel::Warn,
            Level::INFO => LogLevel::Info,
            Level::DEBUG => LogLevel::Debug,
            Level::TRACE => LogLevel::Trace,
        }
    }
}

/// One log record as the host receives it.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Severity.
    pub level: LogLevel,
    /// The module that logged, e.g. `libpublisher::publisher`.
    pub target: String,
    /// The message with its fields appended as `key=value`.
    pub message: String,
}

/// Where records go.
pub type LogSink = Arc<dyn Fn(&LogRecord) + Send + Sync>;

static MAX_LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Off as u8);
static SINK: RwLock<Option<Installed>> = RwLock::new(None);

/// The sink records go to, with the count of its calls under way.
#[derive(Clone)]
struct Installed {
    sink: LogSink,
    calls: Arc<SinkCalls>,
}

/// How many calls of one sink are under way, so that replacing the sink can wait for them:
/// a host frees what its callback uses once it turned logging off.
#[derive(Default)]
struct SinkCalls {
    running: Mutex<usize>,
    ended: Condvar,
}

thread_local! {
    /// The sinks (`SinkCalls::key`) this thread is inside, innermost last: a sink may log
    /// through the library, or replace itself.
    static INSIDE: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

impl SinkCalls {
    fn key(self: &Arc<Self>) -> usize {
        Arc::as_ptr(self) as usize
    }

    fn running(&self) -> std::sync::MutexGuard<'_, usize> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until no call of this sink runs, other than those this thread is inside.
    fn wait_for_others(self: &Arc<Self>) {
        let key = self.key();
        let own = INSIDE
            .try_with(|inside| inside.borrow().iter().filter(|&&k| k == key).count())
            .unwrap_or(0);
        let mut running = self.running();
        while *running > own {
            running = self.ended.wait(running).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Sends records at `level` and more severe to `sink`; `None` (or `LogLevel::Off`) stops
/// logging. When this returns, the sink it replaces is not running (other than where this is
/// called from inside it) and will not run again. The first call installs the library's
/// global `tracing` subscriber; it fails with 1015 ILLEGAL_STATE if the process already has
/// another one.
pub fn set_log_sink(level: LogLevel, sink: Option<LogSink>) -> Result<()> {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    let installed = *INSTALLED.get_or_init(|| {
        tracing_subscriber::registry()
            .with(SinkLayer)
            .try_init()
            .is_ok()
    });
    if !installed {
        return Err(Error::illegal_state(
            "the process already has a tracing subscriber; route logs through it",
        ));
    }
    let level = if sink.is_some() { level } else { LogLevel::Off };
    let installed = sink.map(|sink| Installed {
        sink,
        calls: Arc::default(),
    });
    let replaced = std::mem::replace(
        &mut *SINK.write().unwrap_or_else(|e| e.into_inner()),
        installed,
    );
    MAX_LEVEL.store(level as u8, Ordering::Release);
    tracing::callsite::rebuild_interest_cache();
    // No call of the replaced sink starts any more; those under way end before this returns.
    if let Some(replaced) = replaced {
        replaced.calls.wait_for_others();
    }
    Ok(())
}

/// A sink printing each record on stderr as one line, `libpublisher INFO  target: message`,
/// from whichever thread logs, so that records appear even while the host's thread is busy.
pub fn stderr_sink() -> LogSink {
    Arc::new(|record: &LogRecord| {
        eprintln!(
            "libpublisher {:5} {}: {}",
            record.level.as_str().to_ascii_uppercase(),
            record.target,
            record.message
        );
    })
}

/// The level at which the environment asks for logs on stderr: `LIBPUBLISHER_LOG` (a level
/// name), else `debug` when `DEBUG` selects the `libpublisher` namespace the way the `debug`
/// package reads it (`DEBUG=express:*,libpublisher`). `None` when neither asks; an error
/// says why the variable is ignored.
pub fn env_log_level() -> Option<std::result::Result<LogLevel, String>> {
    let named = std::env::var("LIBPUBLISHER_LOG").unwrap_or_default();
    if !named.is_empty() {
        return Some(
            LogLevel::from_name(&named)
                .map_err(|e| format!("LIBPUBLISHER_LOG={named} ignored: {}", e.message)),
        );
    }
    let debug = std::env::var("DEBUG").unwrap_or_default();
    debug_selects(&debug, "libpublisher").then_some(Ok(LogLevel::Debug))
}

/// Whether a `DEBUG` spec (names and `*` wildcards, separated by commas or spaces; `-name`
/// excludes) selects `namespace`.
fn debug_selects(spec: &str, namespace: &str) -> bool {
    let mut selected = false;
    for part in spec.split([',', ' ', '\t', '\n']).filter(|p| !p.is_empty()) {
        let (negated, pattern) = match part.strip_prefix('-') {
            Some(pattern) => (true, pattern),
            None => (false, part),
        };
        if wildcard_matches(pattern, namespace) {
            if negated {
                return false;
            }
            selected = true;
        }
    }
    selected
}

/// `*` matches any run of characters; everything else matches itself.
fn wildcard_matches(pattern: &str, text: &str) -> bool {
    let mut pieces = pattern.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty(); // no wildcard: the whole text
    };
    for piece in middle {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

struct SinkLayer;

impl<S: Subscriber> Layer<S> for SinkLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        LogLevel::of(metadata.level()) as u8 <= MAX_LEVEL.load(Ordering::Acquire)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let level = LogLevel::of(event.metadata().level());
        if level as u8 > MAX_LEVEL.load(Ordering::Acquire) {
            return;
        }
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let record = LogRecord {
            level,
            target: event.metadata().target().to_owned(),
            message: visitor.message + &visitor.fields,
        };
        let installed = {
            let current = SINK.read().unwrap_or_else(|e| e.into_inner());
            let Some(installed) = current.clone() else {
                return;
            };
            // Counted while the sink cannot be replaced, so that replacing it waits for this.
            *installed.calls.running() += 1;
            installed
        };
        let key = installed.calls.key();
        let entered = INSIDE
            .try_with(|inside| inside.borrow_mut().push(key))
            .is_ok();
        // A sink that panics must not take the logging thread (any library thread) with it.
        let _ =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (installed.sink)(&record)));
        if entered {
            let _ = INSIDE.try_with(|inside| inside.borrow_mut().pop());
        }
        *installed.calls.running() -= 1;
        installed.calls.ended.notify_all();
    }
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl Visit for MessageVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names() {
        assert_eq!(LogLevel::from_name(" Debug ").unwrap(), LogLevel::Debug);
        let e = LogLevel::from_name("loud").unwrap_err();
        assert_eq!(
            e.message,
            r#"level: expected one of "off", "error", "warn", "info", "debug", "trace""#
        );
    }

    #[test]
    fn debug_specs_select_as_the_debug_package_reads_them() {
        for (spec, selected) in [
            ("libpublisher", true),
            ("express:*,libpublisher", true),
            ("*", true),
            ("lib*", true),
            ("*,-libpublisher", false),
            ("libpublisher:*", false),
            ("express", false),
            ("", false),
            ("lib*her", true),
            ("lib*x", false),
        ] {
            assert_eq!(debug_selects(spec, "libpublisher"), selected, "{spec:?}");
        }
    }
}
