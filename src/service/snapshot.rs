//! An immutable value shared by all RPCs and replaced whole: readers take an
//! `Arc` under a short read lock, so they never see a half-built value, and
//! a writer builds the new value outside the lock and swaps it in.

use std::sync::{Arc, RwLock};

/// A value plus the key (e.g. a version) it was built from.
#[derive(Debug)]
pub(super) struct Snapshot<K, T> {
    inner: RwLock<(K, Arc<T>)>,
}

impl<K: Copy + Eq, T> Snapshot<K, T> {
    /// Starts with `value` built from `key`.
    pub(super) fn new(key: K, value: T) -> Self {
        Self {
            inner: RwLock::new((key, Arc::new(value))),
        }
    }

    /// The current value.
    pub(super) fn get(&self) -> Arc<T> {
        match self.inner.read() {
            Ok(guard) => guard.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    /// The key the current value was built from.
    pub(super) fn key(&self) -> K {
        match self.inner.read() {
            Ok(guard) => guard.0,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    /// Replaces the value.
    pub(super) fn set(&self, key: K, value: T) {
        let mut guard = match self.inner.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = (key, Arc::new(value));
    }
}
