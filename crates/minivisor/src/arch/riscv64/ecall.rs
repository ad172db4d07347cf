//! Minivisor's own calls into OpenSBI (the SBI calling convention: extension in a7, function in
//! a6, arguments from a0, error in a0 and value in a1).

use core::arch::asm;

/// SBI call `eid`/`fid` with three arguments; `(error, value)`.
pub fn call(eid: u64, fid: u64, args: [u64; 3]) -> (i64, u64) {
    call5(eid, fid, [args[0], args[1], args[2], 0, 0])
}

/// SBI call `eid`/`fid` with five arguments (RFENCE takes five); `(error, value)`.
pub fn call5(eid: u64, fid: u64, args: [u64; 5]) -> (i64, u64) {
    let (error, value): (u64, u64);
    // SAFETY: an SBI call to OpenSBI in M-mode, which writes a0 and a1 only; the
    // calls minivisor makes (HSM, TIME, RFENCE) touch none of its memory (a remote
    // fence changes only other harts' TLBs).
    unsafe {
        asm!(
            "ecall",
            inout("a0") args[0] => error,
            inout("a1") args[1] => value,
            in("a2") args[2],
            in("a3") args[3],
            in("a4") args[4],
            in("a6") fid,
            in("a7") eid,
            options(nostack),
        );
    }
    (error as i64, value)
}
