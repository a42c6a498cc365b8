//! Mapped windows of a file, safe against the file shrinking while it is read.
//!
//! Scanning a large plain file through a mapping skips the copy a read makes
//! (about a third of the time a read-and-scan takes). But a mapped page that
//! is no longer part of the file (the file was truncated: log rotation by
//! copytruncate, an export rewritten in place) raises SIGBUS when read, and
//! SIGBUS ends the process. So a command that reads files installs a handler
//! first, explicitly ([`install_fault_handler`]; without it no window is
//! mapped and files are read): a fault inside a live window replaces the
//! page with zeros and marks the window [`cut`](Window::cut), the scan goes
//! on, and the reader reports the input as changed while read. A SIGBUS
//! anywhere else gets the disposition it had before.
//!
//! What the handler does is what a signal handler may do: lock-free atomic
//! loads and stores, `sigaction` (async-signal-safe in POSIX), and `mmap`
//! made as the raw system call; it keeps the interrupted code's `errno`. POSIX does not list `mmap` among the
//! async-signal-safe functions because a C library may keep state around
//! it; the raw system call keeps none, and Linux's `mmap` takes no lock a
//! signal could interrupt holding (the fault came from a read of user
//! memory, not from inside the kernel's mapping code).

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};

/// One window per reading thread; a thread that finds none free reads.
const SLOTS: usize = 256;

/// Where a live window is mapped, as the signal handler sees it.
struct Slot {
    taken: AtomicBool,
    start: AtomicUsize,
    end: AtomicUsize,
    cut: AtomicBool,
}

static SLOT: [Slot; SLOTS] = [const {
    Slot {
        taken: AtomicBool::new(false),
        start: AtomicUsize::new(0),
        end: AtomicUsize::new(0),
        cut: AtomicBool::new(false),
    }
}; SLOTS];

/// The page size once the handler is installed; 0 before (or when it could
/// not be), and then no window is mapped.
static PAGE: AtomicUsize = AtomicUsize::new(0);
/// The SIGBUS disposition from before the handler, for faults that are not
/// a window's.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();
static INSTALL: Once = Once::new();

/// Installs the SIGBUS handler that makes mapped windows safe, once per
/// process; returns whether windows can be mapped. A process-wide side
/// effect, so the command that reads files calls it, not a library function.
pub fn install_fault_handler() -> bool {
    INSTALL.call_once(|| {
        // SAFETY: plain libc calls with valid arguments.
        unsafe {
            let Ok(page) = usize::try_from(libc::sysconf(libc::_SC_PAGESIZE)) else {
                return;
            };
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, &action, &mut old) != 0 {
                return;
            }
            let _ = PREVIOUS.set(old);
            PAGE.store(page, Ordering::Release);
        }
    });
    PAGE.load(Ordering::Acquire) != 0
}

/// A read-only mapping of part of a file.
pub struct Window {
    map: memmap2::Mmap,
    slot: &'static Slot,
}

impl Window {
    /// Maps `len` bytes of `file` from `offset`. `None` when it cannot be
    /// mapped safely (a file system without mappings, no handler, every slot
    /// taken): the caller reads instead.
    pub fn map(file: &File, offset: u64, len: usize) -> Option<Window> {
        let page = PAGE.load(Ordering::Acquire);
        if page == 0 || len == 0 {
            return None;
        }
        let slot = SLOT.iter().find(|s| {
            s.taken
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        })?;
        // SAFETY: the mapping is read-only; a change to the file shows
        // through it as it would through a read, and a truncation is caught
        // by the handler.
        let map = match unsafe {
            memmap2::MmapOptions::new()
                .offset(offset)
                .len(len)
                .map(file)
        } {
            Ok(map) => map,
            Err(_) => {
                slot.taken.store(false, Ordering::Release);
                return None;
            }
        };
        let start = map.as_ptr() as usize & !(page - 1);
        slot.cut.store(false, Ordering::Relaxed);
        slot.start.store(start, Ordering::Relaxed);
        slot.end
            .store(map.as_ptr() as usize + len, Ordering::Release);
        Some(Window { map, slot })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Did part of the window vanish from the file while it was read? That
    /// part read as zeros.
    pub fn cut(&self) -> bool {
        self.slot.cut.load(Ordering::Acquire)
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // Before the mapping goes (the field is dropped after this).
        self.slot.end.store(0, Ordering::Release);
        self.slot.taken.store(false, Ordering::Release);
    }
}

/// Puts back the interrupted code's `errno` when the handler returns: the
/// system calls below may set it.
struct KeepErrno(libc::c_int);

impl KeepErrno {
    fn save() -> KeepErrno {
        // SAFETY: the calling thread's errno, always valid.
        KeepErrno(unsafe { *libc::__errno_location() })
    }
}

impl Drop for KeepErrno {
    fn drop(&mut self) {
        // SAFETY: as in `save`.
        unsafe { *libc::__errno_location() = self.0 };
    }
}

extern "C" fn on_sigbus(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let _errno = KeepErrno::save();
    // SAFETY: the kernel passes a valid siginfo; SIGBUS carries an address.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Acquire);
    for slot in SLOT.iter().filter(|_| page != 0) {
        if slot.taken.load(Ordering::Acquire)
            && (slot.start.load(Ordering::Relaxed)..slot.end.load(Ordering::Acquire))
                .contains(&addr)
        {
            // SAFETY: the page lies in this thread's live window (a SIGBUS
            // from a read goes to the thread that read); a page of zeros
            // takes the vanished page's place in it.
            let zeros = unsafe {
                libc::syscall(
                    libc::SYS_mmap,
                    addr & !(page - 1),
                    page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if zeros != libc::MAP_FAILED as libc::c_long {
                slot.cut.store(true, Ordering::Release);
                return;
            }
        }
    }
    // Not a window's: put back the disposition from before (the default if
    // the handler is still being installed), which the fault meets when the
    // read is retried on return.
    // SAFETY: `old` is the action sigaction returned, or a zeroed action,
    // which is SIG_DFL with no flags.
    unsafe {
        let default: libc::sigaction = std::mem::zeroed();
        let old = PREVIOUS.get().unwrap_or(&default);
        libc::sigaction(libc::SIGBUS, old, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_cut_short_under_a_window_reads_as_zeros_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let page = 4096;
        std::fs::write(&path, vec![b'x'; 4 * page]).unwrap();
        let file = File::open(&path).unwrap();
        assert!(install_fault_handler());
        let window = Window::map(&file, 0, 4 * page).expect("a regular file maps");
        assert_eq!(window.bytes()[0], b'x');
        assert!(!window.cut());
        // Truncated under the window, as copytruncate does.
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(page as u64)
            .unwrap();
        let bytes = window.bytes();
        assert_eq!(bytes[page - 1], b'x');
        assert!(bytes[page..].iter().all(|&b| b == 0));
        assert!(window.cut());
        drop(window);
        // The next window of the same file starts whole.
        let again = Window::map(&file, 0, page).unwrap();
        assert!(again.bytes().iter().all(|&b| b == b'x'));
        assert!(!again.cut());
    }
}
