//! Copying one file into another and proving the copy: the kernel copies in chunks, and the
//! copy is read back and compared with the source byte for byte, on two threads that share the
//! comparison, so verifying adds little to the copy's own time.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use berth_core::Error;
use berth_transfer::TransferError;

/// Bytes copied between stop checks and progress reports: large enough for the kernel's
/// copy_file_range to run at full speed, small enough to pause within a fraction of a second
/// — and to keep the comparison close behind, so little is left to compare once the copy ends
/// (32 MiB left a warm-cache copy a fifth slower than `cp`).
const CHUNK: u64 = 8 << 20;

/// The smallest chunk, at a file's start and end.
const LAST_CHUNK: u64 = 1 << 20;

/// What one thread compares at a time: two such buffers stay in the CPU's cache while they are
/// compared (1 MiB ones did not, and made the comparison slower than the copy).
const COMPARED_AT_ONCE: u64 = 256 << 10;

/// Below this, comparing after the copy on the same thread beats starting a second one.
const SECOND_THREAD_FROM: u64 = 8 << 20;

pub(crate) const STOPPED: &str = "stopped by the queue";

/// Copies `source` into `target` from `target`'s current length (what an earlier attempt wrote)
/// in chunks the kernel copies directly, reporting bytes done, and verifies the result: the
/// copy read back and compared with the source byte for byte. (Comparing reads each file once,
/// as hashing both did, but costs a fraction of a hash's CPU: BLAKE3 over both files made a
/// warm-cache copy take twice `cp`'s time on two cores.)
///
/// For large files a second thread compares each piece soon after the kernel copied it, while
/// both are still in the page cache. Comparing costs more than copying (two reads into memory
/// against the kernel's one copy: 1.4 times the copy's CPU, measured), so a comparing thread
/// alone fell behind and the copy waited for it at the end; instead the copying thread also
/// compares whenever the other lags by more than a chunk, and both finish what is left.
///
/// `stop` is asked between chunks; `progress` hears the bytes copied. `Ok(Ok(size))` when the
/// copy is identical; `Ok(Err(_))` when it differs (the caller deletes it); `Err` for I/O
/// errors and for a stop (an `Interrupted` error saying [`STOPPED`]).
pub(crate) fn copy_verified(
    source: &File,
    target: &File,
    stop: &dyn Fn() -> bool,
    progress: &dyn Fn(u64),
) -> io::Result<Result<u64, TransferError>> {
    let size = source.metadata()?.len();
    let mut done = target.metadata()?.len();
    if done > size {
        // The source shrank since the last attempt: start over rather than keep stale bytes.
        target.set_len(0)?;
        done = 0;
    }
    progress(done);
    // What an earlier attempt wrote is verified along with the rest.
    let comparison = Comparison::new(source, target, done);
    std::thread::scope(|scope| {
        let second = (size >= SECOND_THREAD_FROM)
            .then(|| scope.spawn(|| comparison.compare_claimed(0, true, &mut Buffers::default())));
        let mut buffers = Buffers::default();
        let copied = copy(&comparison, size, done, stop, progress, &mut buffers);
        comparison.copy_ended(copied.is_ok());
        let mine = match copied {
            Ok(()) => comparison.compare_claimed(0, true, &mut buffers),
            Err(e) => Err(e),
        };
        let theirs = second.map_or(Ok(()), |thread| {
            thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("comparing stopped")))
        });
        mine.and(theirs)
    })?;
    let written = target.metadata()?.len();
    Ok(if written == size && !comparison.differs() {
        Ok(size)
    } else {
        Err(TransferError::Failed(Error::internal(
            "Verification failed: the copy differs from the source. It was not kept; retry.",
        )))
    })
}

fn copy(
    comparison: &Comparison,
    size: u64,
    mut done: u64,
    stop: &dyn Fn() -> bool,
    progress: &dyn Fn(u64),
    buffers: &mut Buffers,
) -> io::Result<()> {
    while done < size {
        if stop() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, STOPPED));
        }
        // The first chunks grow, so the comparison starts soon after the copy does, and the
        // last ones shrink, so it ends just after the copy does.
        let len = CHUNK
            .min(done.max(LAST_CHUNK))
            .min(((size - done) / 2).max(LAST_CHUNK));
        let copied = copy_chunk(comparison.source, comparison.target, done, len)?;
        if copied == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the source ended early: it changed while being copied",
            ));
        }
        done += copied;
        comparison.copied_to(done);
        progress(done);
        comparison.compare_claimed(CHUNK, false, buffers)?;
    }
    Ok(())
}

/// The comparison of a copy with its source, shared by the threads that do it: the copy's
/// progress, which pieces are taken, and whether any differed.
struct Comparison<'f> {
    source: &'f File,
    target: &'f File,
    claims: Mutex<Claims>,
    copied_more: Condvar,
    differs: AtomicBool,
}

struct Claims {
    /// Copied bytes end here.
    copied: u64,
    /// Everything before this is compared or being compared.
    claimed: u64,
    copying: bool,
    /// The copy failed or a piece differed: nothing more is worth comparing.
    abandoned: bool,
}

/// One thread's pair of read buffers, kept across pieces: zeroing new ones for each piece
/// would cost more than comparing a small file.
#[derive(Default)]
struct Buffers {
    ours: Vec<u8>,
    theirs: Vec<u8>,
}

impl<'f> Comparison<'f> {
    fn new(source: &'f File, target: &'f File, copied: u64) -> Self {
        Self {
            source,
            target,
            claims: Mutex::new(Claims {
                copied,
                claimed: 0,
                copying: true,
                abandoned: false,
            }),
            copied_more: Condvar::new(),
            differs: AtomicBool::new(false),
        }
    }

    fn claims(&self) -> std::sync::MutexGuard<'_, Claims> {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn copied_to(&self, end: u64) {
        self.claims().copied = end;
        self.copied_more.notify_one();
    }

    fn copy_ended(&self, ok: bool) {
        let mut claims = self.claims();
        claims.copying = false;
        claims.abandoned |= !ok;
        drop(claims);
        self.copied_more.notify_all();
    }

    fn differs(&self) -> bool {
        self.differs.load(Ordering::Relaxed)
    }

    /// The next piece to compare, while more than `leave` bytes wait to be compared; with
    /// `wait`, waits for the copy to go on rather than return `None` before it ended.
    fn claim(&self, leave: u64, wait: bool) -> Option<(u64, u64)> {
        let mut claims = self.claims();
        loop {
            if claims.abandoned {
                return None;
            }
            if claims.copied - claims.claimed > leave {
                let start = claims.claimed;
                claims.claimed = claims.copied.min(start + COMPARED_AT_ONCE);
                return Some((start, claims.claimed));
            }
            if !claims.copying || !wait {
                return None;
            }
            claims = self
                .copied_more
                .wait(claims)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Compares pieces as `claim` hands them out (positional reads, so the copy's file cursors
    /// are untouched). A difference or an error ends the comparison for every thread.
    fn compare_claimed(&self, leave: u64, wait: bool, buffers: &mut Buffers) -> io::Result<()> {
        while let Some((start, end)) = self.claim(leave, wait) {
            let same = self.compare(start, end, buffers);
            if !matches!(same, Ok(true)) {
                self.differs.store(true, Ordering::Relaxed);
                self.claims().abandoned = true;
                self.copied_more.notify_all();
                return same.map(|_| ());
            }
        }
        Ok(())
    }

    fn compare(&self, start: u64, end: u64, buffers: &mut Buffers) -> io::Result<bool> {
        let len = usize::try_from(end - start).unwrap_or(usize::MAX);
        if buffers.ours.len() < len {
            buffers.ours.resize(len, 0);
            buffers.theirs.resize(len, 0);
        }
        let n = read_full_at(self.source, &mut buffers.ours[..len], start)?;
        let m = read_full_at(self.target, &mut buffers.theirs[..len], start)?;
        Ok(n == len && m == len && buffers.ours[..n] == buffers.theirs[..m])
    }
}

/// Reads until `buffer` is full or the file ends; how many bytes were read.
fn read_full_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        let n = read_at(file, &mut buffer[filled..], offset + filled as u64)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Copies up to `len` bytes at offset `at` of `source` to the same offset of `target`. Unix:
/// through the files' cursors, so `io::copy` hands the work to the kernel (copy_file_range);
/// the comparison's `pread`s leave the cursors alone, and only this thread moves them.
#[cfg(unix)]
fn copy_chunk(source: &File, target: &File, at: u64, len: u64) -> io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let (mut reader, mut writer) = (source, target);
    reader.seek(SeekFrom::Start(at))?;
    writer.seek(SeekFrom::Start(at))?;
    io::copy(&mut reader.take(len), &mut writer)
}

/// Windows: every read and write names its offset, because there a positional read
/// (`seek_read`) moves the handle's cursor too, and the comparing thread reads the same handles
/// while this copies: a cursor-based copy would continue from wherever the comparison last read.
#[cfg(windows)]
fn copy_chunk(source: &File, target: &File, at: u64, len: u64) -> io::Result<u64> {
    use std::os::windows::fs::FileExt;
    let mut buffer = vec![0; (1 << 20).min(usize::try_from(len).unwrap_or(usize::MAX))];
    let mut copied = 0;
    while copied < len {
        let want = buffer
            .len()
            .min(usize::try_from(len - copied).unwrap_or(usize::MAX));
        let n = source.seek_read(&mut buffer[..want], at + copied)?;
        if n == 0 {
            break;
        }
        let mut written = 0;
        while written < n {
            let w = target.seek_write(&buffer[written..n], at + copied + written as u64)?;
            if w == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            written += w;
        }
        copied += n as u64;
    }
    Ok(copied)
}

#[cfg(unix)]
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buffer, offset)
}

#[cfg(windows)]
fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buffer, offset)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Two real files, the second the first with `change` applied; whether they compare equal
    /// when `threads` threads share the comparison of the first `copied` bytes.
    fn compared(size: usize, change: impl FnOnce(&mut Vec<u8>), threads: usize) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let source: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let mut copy = source.clone();
        change(&mut copy);
        std::fs::write(dir.path().join("a"), &source).unwrap();
        std::fs::write(dir.path().join("b"), &copy).unwrap();
        let a = File::open(dir.path().join("a")).unwrap();
        let b = File::open(dir.path().join("b")).unwrap();
        let comparison = Comparison::new(&a, &b, size as u64);
        comparison.copy_ended(true);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    comparison
                        .compare_claimed(0, true, &mut Buffers::default())
                        .unwrap()
                });
            }
        });
        !comparison.differs()
    }

    #[test]
    fn a_copy_is_the_same_only_when_every_byte_is() {
        const SIZE: usize = 3 << 20;
        for threads in [1, 2] {
            assert!(compared(SIZE, |_| {}, threads));
            // One byte different: at the start, across a piece's edge, at the end.
            let piece = COMPARED_AT_ONCE as usize;
            for at in [0, piece - 1, piece, 5 * piece + 7, SIZE - 1] {
                assert!(!compared(SIZE, |c| c[at] ^= 1, threads), "a byte at {at}");
            }
            // The copy stopped short.
            assert!(!compared(SIZE, |c| c.truncate(SIZE - 10), threads));
        }
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
