//! Copies between the hypervisor's buffers and guest memory that running vCPUs
//! may read and write at the same time.
//!
//! Guest memory is only ever touched through relaxed atomic loads and stores:
//! aligned 8-byte words, single bytes at the unaligned edges. No reference to
//! guest memory is formed, so a guest writing while the hypervisor copies is no
//! data race; each aligned word is copied whole.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};

/// Bytes of the widest element.
const WORD: usize = 8;

/// Copies `dst.len()` bytes of guest memory at `guest` into `dst`.
///
/// # Safety
///
/// `guest` must be valid for reads and writes of `dst.len()` bytes for the
/// duration of the call, and accessed by others only atomically or from outside
/// the program (a guest).
pub(crate) unsafe fn from_guest(guest: *const u8, dst: &mut [u8]) {
    // Cannot panic: the head is at most the whole buffer.
    let (head, body) = dst.split_at_mut(head_len(guest, dst.len()));
    let mut at = guest.cast_mut();
    for byte in head {
        // SAFETY: `at` is inside the guest range (the caller's promise; one byte per
        // byte of `dst`), and bytes are always aligned.
        *byte = unsafe { AtomicU8::from_ptr(at) }.load(Relaxed);
        at = at.wrapping_add(1);
    }
    let mut words = body.chunks_exact_mut(WORD);
    for chunk in &mut words {
        // SAFETY: `at` is 8-byte aligned (the unaligned head came first)
        // and the 8 bytes are inside the guest range.
        let word = unsafe { AtomicU64::from_ptr(at.cast::<u64>()) }.load(Relaxed);
        if let Ok(bytes) = <&mut [u8; WORD]>::try_from(chunk) {
            *bytes = word.to_ne_bytes();
        }
        at = at.wrapping_add(WORD);
    }
    for byte in words.into_remainder() {
        // SAFETY: as for the head.
        *byte = unsafe { AtomicU8::from_ptr(at) }.load(Relaxed);
        at = at.wrapping_add(1);
    }
}

/// Copies `src` into guest memory at `guest`.
///
/// # Safety
///
/// As for [`from_guest`], for `src.len()` bytes.
pub(crate) unsafe fn to_guest(src: &[u8], guest: *mut u8) {
    // Cannot panic: the head is at most the whole buffer.
    let (head, body) = src.split_at(head_len(guest, src.len()));
    let mut at = guest;
    for byte in head {
        // SAFETY: as in `from_guest`.
        unsafe { AtomicU8::from_ptr(at) }.store(*byte, Relaxed);
        at = at.wrapping_add(1);
    }
    let mut words = body.chunks_exact(WORD);
    for chunk in &mut words {
        if let Ok(bytes) = <[u8; WORD]>::try_from(chunk) {
            // SAFETY: as in `from_guest`: aligned, inside the guest range.
            unsafe { AtomicU64::from_ptr(at.cast::<u64>()) }
                .store(u64::from_ne_bytes(bytes), Relaxed);
        }
        at = at.wrapping_add(WORD);
    }
    for byte in words.remainder() {
        // SAFETY: as for the head.
        unsafe { AtomicU8::from_ptr(at) }.store(*byte, Relaxed);
        at = at.wrapping_add(1);
    }
}

/// How many bytes from `guest` come before the first 8-byte aligned one, at most `len`.
fn head_len(guest: *const u8, len: usize) -> usize {
    guest.align_offset(WORD).min(len)
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    /// Every alignment of the guest side and every length around the word size
    /// copies exactly the bytes asked for, both ways, and nothing beyond.
    #[test]
    fn copies_match_a_plain_copy_at_every_alignment() {
        let pattern: Vec<u8> = (0..64u8).collect();
        for offset in 0..WORD * 2 {
            for len in 0..40 {
                let mut guest = [0u64; 8];
                let base = guest.as_mut_ptr().cast::<u8>();
                // SAFETY: `offset + len` <= 56 bytes of the 64-byte `guest`, which
                // nothing else accesses.
                unsafe { to_guest(&pattern[..len], base.add(offset)) };
                let bytes: Vec<u8> = guest.iter().flat_map(|word| word.to_ne_bytes()).collect();
                assert!(bytes[..offset].iter().all(|b| *b == 0));
                assert_eq!(&bytes[offset..offset + len], &pattern[..len]);
                assert!(bytes[offset + len..].iter().all(|b| *b == 0));
                let mut back = alloc::vec![0xffu8; len];
                // SAFETY: as above.
                unsafe { from_guest(base.add(offset), &mut back) };
                assert_eq!(back, &pattern[..len]);
            }
        }
    }
}
