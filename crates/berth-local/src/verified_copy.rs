//! Copying one file into another and proving the copy: the file is taken in small pieces, and
//! each piece is read, written (or copied by the kernel where that shares blocks), and at once
//! read back and compared with the source byte for byte, on the same thread while both are
//! still in its cache; for a large file two threads take pieces in turn, so verifying adds
//! nothing to the copy's own time.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use berth_core::Error;
use berth_transfer::TransferError;
use berth_transfer::positional::{read_full_at, write_all_at};

/// What one thread copies and then compares: small enough that the source's and the copy's
/// bytes are still in the thread's cache when they are read back (a 256 MiB copy from the page
/// cache: 64-128 KiB pieces ran at `cp`'s speed on two threads, 1-4 MiB ones a fifth slower).
const PIECE: u64 = 128 << 10;

/// How many pieces pass between stop checks and progress reports (8 MiB): a pause within a
/// fraction of a second, a progress bar that moves smoothly.
const PIECES_PER_REPORT: u64 = 64;

/// Below this, one thread does it all: starting a second costs more than it saves.
const SECOND_THREAD_FROM: u64 = 8 << 20;

/// How far past the first unfinished piece a thread may take one, in pieces: a thread held up
/// (the scheduler, a page fault) holds the other up only that far, and a copy killed mid-way
/// leaves any gap within that many pieces of the copy's end, which a resumed copy redoes.
const AHEAD: u64 = 4;

pub(crate) const STOPPED: &str = "stopped by the queue";

/// Copies `source` into `target`, continuing from `target`'s current length (what an earlier
/// attempt wrote), reporting bytes done, and verifies the result: every piece read back and
/// compared with the source byte for byte. (Comparing reads each file once, as hashing both
/// did, but costs a fraction of a hash's CPU: BLAKE3 over both files made a warm-cache copy
/// take twice `cp`'s time on two cores.)
///
/// Each thread copies a piece and compares it at once, while the bytes it just moved are in its
/// cache: comparing a copy read back from memory later cost 1.4 times the copy itself, and even
/// shared by two threads left a 256 MiB copy from the page cache at 0.8-0.9× `cp`.
///
/// The source's bytes are read once: into the buffer they are written from and compared with.
/// Asking the kernel to copy instead (`copy_file_range`, as `cp` does) is only worth it where
/// the file system shares the blocks or copies on its server; where it copies page by page
/// (ext4, tmpfs) it cost more than the write, and the source still had to be read for the
/// comparison (a 256 MiB copy from the page cache: 180 ms of CPU against 140 ms, 0.8-0.9× `cp`
/// against 1.1-1.2×).
///
/// An earlier attempt's bytes are compared along with the rest; since two threads write pieces
/// side by side, its last [`AHEAD`] pieces may have a gap, so they are copied again.
///
/// `stop` is asked between pieces; `progress` hears the bytes done. `Ok(Ok(size))` when the
/// copy is identical; `Ok(Err(_))` when it differs (the caller deletes it); `Err` for I/O
/// errors and for a stop (an `Interrupted` error saying [`STOPPED`]).
pub(crate) fn copy_verified(
    source: &File,
    target: &File,
    stop: &dyn Fn() -> bool,
    progress: &dyn Fn(u64),
) -> io::Result<Result<u64, TransferError>> {
    let by_kernel = kernel_copy_pays(target);
    copy_verified_by(source, target, by_kernel, stop, progress)
}

/// [`copy_verified`], with the kernel asked to copy or not.
fn copy_verified_by(
    source: &File,
    target: &File,
    by_kernel: bool,
    stop: &dyn Fn() -> bool,
    progress: &dyn Fn(u64),
) -> io::Result<Result<u64, TransferError>> {
    let size = source.metadata()?.len();
    let mut written = target.metadata()?.len();
    if written > size {
        // The source shrank since the last attempt: start over rather than keep stale bytes.
        target.set_len(0)?;
        written = 0;
    }
    let copy_from = (written / PIECE).saturating_sub(AHEAD) * PIECE;
    progress(copy_from);
    let work = Pieces::new(source, target, size, copy_from, by_kernel);
    std::thread::scope(|scope| {
        if size >= SECOND_THREAD_FROM {
            scope.spawn(|| work.take_pieces(&mut Buffers::default(), &|| false, &|_| {}));
        }
        work.take_pieces(&mut Buffers::default(), stop, progress);
    });
    if let Some(error) = work.failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(error);
    }
    let written = target.metadata()?.len();
    Ok(
        if written == size && !work.differs.load(Ordering::Relaxed) {
            progress(size);
            Ok(size)
        } else {
            Err(TransferError::Failed(Error::internal(
                "Verification failed: the copy differs from the source. It was not kept; retry.",
            )))
        },
    )
}

/// A copy shared by the threads doing it: which piece is next, what is done, how it ended.
struct Pieces<'f> {
    source: &'f File,
    target: &'f File,
    size: u64,
    /// Before this, an earlier attempt's bytes are only compared.
    copy_from: u64,
    window: Window,
    done: AtomicU64,
    /// A thread failed, found a difference, or was stopped: the others stop too.
    ended: AtomicBool,
    differs: AtomicBool,
    /// Whether the kernel is asked to copy between these two files: where it pays, and until
    /// it says it cannot (see [`copy_in_kernel`]).
    kernel_copies: AtomicBool,
    /// The first error, which the caller reports.
    failed: Mutex<Option<io::Error>>,
}

/// One thread's pair of read buffers, kept across pieces: zeroing new ones for each piece
/// would cost more than comparing a small file.
#[derive(Default)]
struct Buffers {
    ours: Vec<u8>,
    theirs: Vec<u8>,
}

/// Which pieces are taken: handed out in order, but never more than [`AHEAD`] past the first
/// one not finished yet, so the copy's length never runs far beyond a gap.
#[derive(Default)]
struct Window {
    claims: Mutex<Claims>,
    moved_on: Condvar,
}

#[derive(Default)]
struct Claims {
    /// The next piece to hand out.
    next: u64,
    /// Every piece before this one is finished.
    finished_to: u64,
    /// Finished pieces after `finished_to`.
    finished_after: BTreeSet<u64>,
}

impl Window {
    /// The start of the next piece of a `size`-byte file, waiting while it would be too far
    /// ahead; `None` when none is left or the copy `ended`.
    fn claim(&self, size: u64, ended: &AtomicBool) -> Option<u64> {
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if claims.next >= size || ended.load(Ordering::Relaxed) {
                return None;
            }
            if claims.next < claims.finished_to + AHEAD * PIECE {
                let start = claims.next;
                claims.next += PIECE;
                return Some(start);
            }
            claims = self
                .moved_on
                .wait(claims)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The piece starting at `start` is copied and proved.
    fn finished(&self, start: u64) {
        let mut claims = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        claims.finished_after.insert(start);
        let mut moved = false;
        while let Some(&first) = claims.finished_after.first()
            && first == claims.finished_to
        {
            claims.finished_after.remove(&first);
            claims.finished_to += PIECE;
            moved = true;
        }
        drop(claims);
        if moved {
            self.moved_on.notify_all();
        }
    }

    fn wake_all(&self) {
        drop(self.claims.lock().unwrap_or_else(PoisonError::into_inner));
        self.moved_on.notify_all();
    }
}

impl<'f> Pieces<'f> {
    /// A copy of `size` bytes from `source` to `target` whose bytes before `copy_from` an
    /// earlier attempt wrote (only compared), with the kernel asked to copy or not.
    fn new(source: &'f File, target: &'f File, size: u64, copy_from: u64, by_kernel: bool) -> Self {
        Self {
            source,
            target,
            size,
            copy_from,
            window: Window::default(),
            done: AtomicU64::new(0),
            ended: AtomicBool::new(false),
            differs: AtomicBool::new(false),
            kernel_copies: AtomicBool::new(by_kernel),
            failed: Mutex::new(None),
        }
    }

    /// Copies and compares pieces until none is left or the copy ended; `stop` is asked and
    /// `progress` told every [`PIECES_PER_REPORT`] pieces.
    fn take_pieces(&self, buffers: &mut Buffers, stop: &dyn Fn() -> bool, progress: &dyn Fn(u64)) {
        let mut taken = 0u64;
        while !self.ended.load(Ordering::Relaxed) {
            if taken.is_multiple_of(PIECES_PER_REPORT) {
                if stop() {
                    self.end(Some(io::Error::new(io::ErrorKind::Interrupted, STOPPED)));
                    return;
                }
                if taken > 0 {
                    progress(self.copy_from.max(self.done.load(Ordering::Relaxed)));
                }
            }
            let Some(start) = self.window.claim(self.size, &self.ended) else {
                return;
            };
            let end = self.size.min(start + PIECE);
            match self.piece(start, end, buffers) {
                Ok(true) => {
                    self.window.finished(start);
                    self.done.fetch_add(end - start, Ordering::Relaxed);
                }
                Ok(false) => {
                    self.differs.store(true, Ordering::Relaxed);
                    self.end(None);
                }
                Err(e) => self.end(Some(e)),
            }
            taken += 1;
        }
    }

    /// Copies what of `start..end` is not an earlier attempt's, then compares all of it;
    /// whether source and copy hold the same bytes there.
    fn piece(&self, start: u64, end: u64, buffers: &mut Buffers) -> io::Result<bool> {
        let len = usize::try_from(end - start).unwrap_or(usize::MAX);
        if buffers.ours.len() < len {
            buffers.ours.resize(len, 0);
            buffers.theirs.resize(len, 0);
        }
        let fresh = start.max(self.copy_from);
        let by_kernel = fresh < end
            && copy_in_kernel(
                self.source,
                self.target,
                fresh,
                end - fresh,
                &self.kernel_copies,
            )?;
        if read_full_at(self.source, &mut buffers.ours[..len], start)? < len {
            return Err(ended_early());
        }
        if fresh < end && !by_kernel {
            let skip = usize::try_from(fresh - start).unwrap_or(usize::MAX);
            write_all_at(self.target, &buffers.ours[skip..len], fresh)?;
        }
        let m = read_full_at(self.target, &mut buffers.theirs[..len], start)?;
        Ok(m == len && buffers.ours[..len] == buffers.theirs[..len])
    }

    fn end(&self, error: Option<io::Error>) {
        self.ended.store(true, Ordering::Relaxed);
        self.window.wake_all();
        if let Some(error) = error {
            let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            failed.get_or_insert(error);
        }
    }
}

fn ended_early() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the source ended early: it changed while being copied",
    )
}

#[cfg(target_os = "linux")]
use kernel_copy::{copy as copy_in_kernel, pays as kernel_copy_pays};

/// Elsewhere every copy goes through a buffer of this process.
#[cfg(not(target_os = "linux"))]
fn copy_in_kernel(_: &File, _: &File, _: u64, _: u64, _: &AtomicBool) -> io::Result<bool> {
    Ok(false)
}

#[cfg(not(target_os = "linux"))]
fn kernel_copy_pays(_: &File) -> bool {
    false
}

/// `copy_file_range(2)`: the kernel copies page to page (or shares the blocks, on file systems
/// that can), as `cp` does.
#[cfg(target_os = "linux")]
mod kernel_copy {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Whether asking the kernel to copy into `target` pays: not where its file system copies
    /// page by page (ext2/3/4, tmpfs), where a write from the buffer the comparison needs
    /// anyway costs less; elsewhere it may share the blocks (Btrfs, XFS) or copy on the server
    /// (NFS, SMB), which no write can match.
    pub(super) fn pays(target: &File) -> bool {
        let mut stat = std::mem::MaybeUninit::<libc::statfs>::zeroed();
        // SAFETY: the descriptor is open and `stat` is a statfs the call fills.
        if unsafe { libc::fstatfs(target.as_raw_fd(), stat.as_mut_ptr()) } != 0 {
            return true;
        }
        // SAFETY: filled by the successful call above.
        let kind = unsafe { stat.assume_init() }.f_type;
        // f_type's width differs among C libraries and architectures.
        #[allow(clippy::unnecessary_cast)]
        let page_by_page =
            [libc::EXT4_SUPER_MAGIC as i64, libc::TMPFS_MAGIC as i64].contains(&(kind as i64));
        !page_by_page
    }

    /// `Ok(true)` once copied, `Ok(false)` when the kernel cannot copy these files (across
    /// file systems before Linux 5.3 and again since 5.19, or a file system without it):
    /// nothing was copied, `works` is cleared, and the caller copies through a buffer.
    pub(super) fn copy(
        source: &File,
        target: &File,
        at: u64,
        len: u64,
        works: &AtomicBool,
    ) -> io::Result<bool> {
        if !works.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let mut copied = 0;
        while copied < len {
            let (mut from, mut to) = (
                (at + copied) as libc::off64_t,
                (at + copied) as libc::off64_t,
            );
            let want = usize::try_from(len - copied).unwrap_or(usize::MAX);
            // SAFETY: both descriptors are open for the call and the offsets are ours.
            let n = unsafe {
                libc::copy_file_range(
                    source.as_raw_fd(),
                    &mut from,
                    target.as_raw_fd(),
                    &mut to,
                    want,
                    0,
                )
            };
            if n < 0 {
                let error = io::Error::last_os_error();
                let unsupported = matches!(
                    error.raw_os_error(),
                    Some(
                        libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EPERM
                    )
                );
                if unsupported && copied == 0 {
                    works.store(false, Ordering::Relaxed);
                    return Ok(false);
                }
                return Err(error);
            }
            if n == 0 {
                return Err(super::ended_early());
            }
            copied += n as u64;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Two real files, the second the first with `change` applied, compared as a copy's
    /// earlier attempt is (every piece read back, nothing copied); whether they are the same.
    fn compared(size: usize, change: impl FnOnce(&mut Vec<u8>)) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let source: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut copy = source.clone();
        change(&mut copy);
        std::fs::write(dir.path().join("a"), &source).unwrap();
        std::fs::write(dir.path().join("b"), &copy).unwrap();
        let a = File::open(dir.path().join("a")).unwrap();
        let b = File::open(dir.path().join("b")).unwrap();
        let pieces = Pieces::new(&a, &b, size as u64, size as u64, false);
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| pieces.take_pieces(&mut Buffers::default(), &|| false, &|_| {}));
            }
        });
        assert!(pieces.failed.into_inner().unwrap().is_none());
        !pieces.differs.load(Ordering::Relaxed)
    }

    #[test]
    fn a_copy_is_the_same_only_when_every_byte_is() {
        const SIZE: usize = 3 << 20;
        assert!(compared(SIZE, |_| {}));
        // One byte different: at the start, across a piece's edge, at the end.
        let piece = PIECE as usize;
        for at in [0, piece - 1, piece, 5 * piece + 7, SIZE - 1] {
            assert!(!compared(SIZE, |c| c[at] ^= 1), "a byte at {at}");
        }
        // The copy stopped short.
        assert!(!compared(SIZE, |c| c.truncate(SIZE - 10)));
    }

    /// `dir/target`, made if missing, open for reading and writing as a transfer's partial is.
    fn copy_target(dir: &std::path::Path) -> File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("target"))
            .unwrap()
    }

    /// Real copies of files small and large (one thread, two), with sizes on and off a
    /// piece's edge, written from the buffer and (where the platform has it) by the kernel:
    /// the copy is the source, and the progress heard ends at its size.
    #[test]
    fn a_copy_holds_the_sources_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = [0, 1, PIECE - 1, PIECE * 3, SECOND_THREAD_FROM * 2 + 7];
        for (size, by_kernel) in sizes.into_iter().flat_map(|s| [(s, false), (s, true)]) {
            let data: Vec<u8> = (0..size).map(|i| (i * 13 % 241) as u8).collect();
            std::fs::write(dir.path().join("source"), &data).unwrap();
            let source = File::open(dir.path().join("source")).unwrap();
            let _ = std::fs::remove_file(dir.path().join("target"));
            let target = copy_target(dir.path());
            let heard = AtomicU64::new(u64::MAX);
            let copied = copy_verified_by(&source, &target, by_kernel, &|| false, &|n| {
                heard.store(n, Ordering::Relaxed)
            })
            .unwrap();
            assert_eq!(
                copied.unwrap(),
                size,
                "a copy of {size} bytes, kernel {by_kernel}"
            );
            assert!(
                std::fs::read(dir.path().join("target")).unwrap() == data,
                "{size} bytes"
            );
            assert_eq!(heard.load(Ordering::Relaxed), size);
        }
    }

    /// A piece held up holds the others up only [`AHEAD`] pieces later, so a copy killed then
    /// has every byte before its last `AHEAD` pieces: a thread asking for one more waits until
    /// the first is finished (or the copy ended).
    #[test]
    fn no_piece_is_taken_far_past_one_not_finished() {
        let window = Window::default();
        let ended = AtomicBool::new(false);
        let size = PIECE * 100;
        let taken: Vec<u64> = (0..AHEAD)
            .map(|_| window.claim(size, &ended).unwrap())
            .collect();
        assert_eq!(taken, (0..AHEAD).map(|i| i * PIECE).collect::<Vec<_>>());
        for &start in &taken[1..] {
            window.finished(start);
        }
        let (said, heard) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| said.send(window.claim(size, &ended)).unwrap());
            assert!(
                heard
                    .recv_timeout(std::time::Duration::from_millis(100))
                    .is_err(),
                "a piece was handed out {AHEAD} past the unfinished first"
            );
            window.finished(0);
            assert_eq!(heard.recv().unwrap(), Some(AHEAD * PIECE));
        });
        // A copy that ended wakes whoever waits, with nothing to take.
        for _ in 0..AHEAD - 1 {
            window.claim(size, &ended).unwrap();
        }
        std::thread::scope(|scope| {
            let waiting = scope.spawn(|| window.claim(size, &ended));
            std::thread::sleep(std::time::Duration::from_millis(20));
            ended.store(true, Ordering::Relaxed);
            window.wake_all();
            assert_eq!(waiting.join().unwrap(), None);
        });
    }

    /// A stop asked for mid-copy ends the copy with the queue's reason and keeps what was
    /// written for the next attempt.
    #[test]
    fn a_stopped_copy_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let size = SECOND_THREAD_FROM * 8;
        std::fs::write(dir.path().join("source"), vec![7u8; size as usize]).unwrap();
        let source = File::open(dir.path().join("source")).unwrap();
        let target = copy_target(dir.path());
        let asked = AtomicU64::new(0);
        let error = copy_verified(
            &source,
            &target,
            &|| asked.fetch_add(1, Ordering::Relaxed) >= 1,
            &|_| {},
        )
        .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::Interrupted);
        assert_eq!(error.to_string(), STOPPED);
        let kept = target.metadata().unwrap().len();
        assert!(kept > 0 && kept < size, "{kept} bytes kept");
    }

    /// A real copy of a file large enough for two threads, started over a partial copy whose
    /// bytes are wrong: the earlier attempt's bytes are compared too, so it is refused; a
    /// partial copy with the right bytes is continued and proved.
    #[test]
    fn an_earlier_attempts_bytes_are_verified_with_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let size = (SECOND_THREAD_FROM * 3 + 12345) as usize;
        let data: Vec<u8> = (0..size).map(|i| (i * 7 % 253) as u8).collect();
        std::fs::write(dir.path().join("source"), &data).unwrap();
        let source = File::open(dir.path().join("source")).unwrap();
        let run = |partial: &[u8]| {
            std::fs::write(dir.path().join("target"), partial).unwrap();
            let target = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(dir.path().join("target"))
                .unwrap();
            copy_verified(&source, &target, &|| false, &|_| {}).unwrap()
        };
        let third = size / 3;
        assert_eq!(run(&data[..third]).unwrap(), size as u64);
        assert_eq!(std::fs::read(dir.path().join("target")).unwrap(), data);
        let mut wrong = data[..third].to_vec();
        wrong[third / 2] ^= 1;
        assert!(run(&wrong).is_err());
    }
}
