//! Puts back the process's SIGINT and SIGTERM handlers after the bridge ran.
//!
//! The bridge listens for both through tokio, whose handler stays installed for the life of
//! the process once set: after `run_bridge` returned, SIGTERM would no longer end the
//! process and Ctrl-C would no longer raise `KeyboardInterrupt`. So a run swaps the
//! handlers: it saves those in place (Python's, or the default), and when it ends it puts
//! them back and keeps tokio's aside for the next run (tokio installs its handler only
//! once per process, so a later run must get it back from here).

#[cfg(unix)]
mod imp {
    use std::sync::{Mutex, PoisonError};

    const SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

    /// The runs going on, what was in place before the first began, and tokio's handlers
    /// between runs. Runs on several threads overlap: only the first saves and only the
    /// last restores.
    struct Saved {
        active: usize,
        before: [Option<libc::sigaction>; 2],
        tokio: Option<[libc::sigaction; 2]>,
    }

    static SAVED: Mutex<Saved> = Mutex::new(Saved {
        active: 0,
        before: [None, None],
        tokio: None,
    });

    /// One run's share of the saved handlers; the last one dropped puts them back.
    pub(crate) struct Restore {
        _private: (),
    }

    /// Installs `new` (if any) for `signal` and returns what was there. The one `unsafe` of
    /// the crate: the standard library has no way to read or set a signal disposition.
    /// Tested by `python-tests/test_lifecycle.py::test_sigterm_ends_the_process_after_run_bridge_returns`.
    #[allow(unsafe_code)]
    fn swap(signal: libc::c_int, new: Option<&libc::sigaction>) -> Option<libc::sigaction> {
        // SAFETY: `sigaction` is given a valid signal number, a pointer to a fully
        // initialised `sigaction` (one read back from the kernel earlier) or null, and a
        // valid out-pointer; a zeroed `sigaction` is a valid value to be overwritten.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            let new = new.map_or(std::ptr::null(), std::ptr::from_ref);
            (libc::sigaction(signal, new, &raw mut old) == 0).then_some(old)
        }
    }

    impl Restore {
        pub(crate) fn save() -> Self {
            let mut saved = SAVED.lock().unwrap_or_else(PoisonError::into_inner);
            if saved.active == 0 {
                let tokio = saved.tokio.take();
                for (i, signal) in SIGNALS.into_iter().enumerate() {
                    saved.before[i] = swap(signal, tokio.as_ref().map(|t| &t[i]));
                }
            }
            saved.active += 1;
            Self { _private: () }
        }
    }

    impl Drop for Restore {
        fn drop(&mut self) {
            let mut saved = SAVED.lock().unwrap_or_else(PoisonError::into_inner);
            saved.active = saved.active.saturating_sub(1);
            if saved.active > 0 {
                return;
            }
            let mut during = [None, None];
            for (i, signal) in SIGNALS.into_iter().enumerate() {
                if let Some(before) = saved.before[i].take() {
                    during[i] = swap(signal, Some(&before));
                }
            }
            if let [Some(int), Some(term)] = during {
                saved.tokio = Some([int, term]);
            }
        }
    }
}

#[cfg(not(unix))]
mod imp {
    /// Nothing to put back: tokio's Ctrl-C handler on Windows chains to the previous one.
    pub(crate) struct Restore;

    impl Restore {
        pub(crate) fn save() -> Self {
            Self
        }
    }
}

pub(crate) use imp::Restore;
