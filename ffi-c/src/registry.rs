//! Handles as ids: the C side holds `{uint64_t id}` values, the library maps them to objects.
//! Ids are never reused, so a freed, stale or forged id finds nothing (1015), never memory.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use libpublisher::{Error, Result};

use crate::util::HostCallbacks;

/// What the core calls with each event of an object.
pub(crate) type EventHandler<T, E> = Arc<dyn Fn(&T, E) + Send + Sync>;

/// One registry per handle type.
pub(crate) struct Registry<T> {
    what: &'static str,
    map: LazyLock<Mutex<HashMap<u64, T>>>,
}

impl<T: Clone> Registry<T> {
    pub(crate) const fn new(what: &'static str) -> Self {
        Registry {
            what,
            map: LazyLock::new(Default::default),
        }
    }

    /// Held while a new object is made and registered, so that callbacks cannot see its handle
    /// before it is findable (see `wait_until_registered`).
    pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<u64, T>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The object behind `id`: 1011 for the zero handle, 1015 for one that is not (or no
    /// longer) registered.
    pub(crate) fn get(&self, id: u64) -> Result<T> {
        if id == 0 {
            return Err(Error::invalid_parameter(self.what, "is the zero handle"));
        }
        self.lock().get(&id).cloned().ok_or_else(|| {
            Error::illegal_state(format!("{} {id} was freed or never existed", self.what))
        })
    }

    /// Removes `id`, with the same errors as `get`.
    pub(crate) fn remove(&self, id: u64) -> Result<T> {
        self.get(id)?;
        self.lock().remove(&id).ok_or_else(|| {
            Error::illegal_state(format!("{} {id} was freed concurrently", self.what))
        })
    }

    /// Callbacks can race the registration of the handle they carry: taking the lock once
    /// waits for it to finish.
    pub(crate) fn wait_until_registered(&self) {
        drop(self.lock());
    }

    /// The core's event handler for objects of this registry, from the host's callbacks
    /// struct (NULL: no callbacks): each event waits until its object is registered, then
    /// `dispatch` calls the host's member for it.
    pub(crate) fn event_handler<C: Copy + 'static, E>(
        &'static self,
        callbacks: Option<&C>,
        dispatch: impl Fn(C, &T, E) + Send + Sync + 'static,
    ) -> EventHandler<T, E>
    where
        T: Send + 'static,
    {
        let Some(&callbacks) = callbacks else {
            return Arc::new(|_, _| {});
        };
        let callbacks = HostCallbacks::new(callbacks);
        Arc::new(move |object: &T, event: E| {
            self.wait_until_registered();
            dispatch(callbacks.get(), object, event)
        })
    }
}
