//! Mount reference counts: the first `get` of a layer mounts it, the last `put` unmounts it.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct RefCounter {
    counts: Mutex<HashMap<String, usize>>,
}

impl RefCounter {
    /// Adds a reference; returns the new count (1 means: mount now).
    pub fn increment(&self, id: &str) -> usize {
        let mut counts = self.counts.lock().expect("refcount lock");
        let c = counts.entry(id.to_string()).or_insert(0);
        *c += 1;
        *c
    }

    /// Drops a reference; returns the new count (0 means: unmount now). A put without a get
    /// stays at 0.
    pub fn decrement(&self, id: &str) -> usize {
        let mut counts = self.counts.lock().expect("refcount lock");
        match counts.get_mut(id) {
            Some(c) if *c > 1 => {
                *c -= 1;
                *c
            }
            _ => {
                counts.remove(id);
                0
            }
        }
    }

    pub fn count(&self, id: &str) -> usize {
        self.counts
            .lock()
            .expect("refcount lock")
            .get(id)
            .copied()
            .unwrap_or(0)
    }

    /// Every id with references, emptying the table (for cleanup at shutdown).
    pub fn drain(&self) -> Vec<String> {
        self.counts
            .lock()
            .expect("refcount lock")
            .drain()
            .map(|(id, _)| id)
            .collect()
    }

    /// Runs `mount` on the first reference; a failed mount takes the reference back.
    pub fn get_with<T, E>(
        &self,
        id: &str,
        mount: impl FnOnce() -> Result<T, E>,
        already: impl FnOnce() -> T,
    ) -> Result<T, E> {
        if self.increment(id) == 1 {
            mount().inspect_err(|_| {
                self.decrement(id);
            })
        } else {
            Ok(already())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_get_and_last_put_are_the_ones_that_count() {
        let r = RefCounter::default();
        assert_eq!(r.increment("a"), 1);
        assert_eq!(r.increment("a"), 2);
        assert_eq!(r.decrement("a"), 1);
        assert_eq!(r.decrement("a"), 0);
        assert_eq!(r.decrement("a"), 0, "an extra put does not go negative");
        assert_eq!(r.count("a"), 0);
    }

    #[test]
    fn a_failed_mount_takes_the_reference_back() {
        let r = RefCounter::default();
        let res: Result<(), ()> = r.get_with("a", || Err(()), || ());
        assert!(res.is_err());
        assert_eq!(r.count("a"), 0);
    }
}
