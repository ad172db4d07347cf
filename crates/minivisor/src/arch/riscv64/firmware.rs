//! The SBI calls the vCPU backend leaves to the hypervisor: the consoles (legacy
//! putchar / getchar and DBCN) and HSM hart_get_status; and minivisor's hypercall
//! that needs the vCPU, `TIMER_SSTC`.

use axdevice::SerialBackend;
use axvcpu::arch::riscv64::{context::reg, sbi};
use axvm_types::GuestPhysAddr;

use crate::{firmware::FirmwareCall, hypercall};

const LEGACY_CONSOLE_PUTCHAR: u64 = 0x01;
const LEGACY_CONSOLE_GETCHAR: u64 = 0x02;
/// DBCN functions.
const DBCN_WRITE: u64 = 0;
const DBCN_READ: u64 = 1;
const DBCN_WRITE_BYTE: u64 = 2;
/// HSM hart_get_status and the states it reports.
const HSM_GET_STATUS: u64 = 2;
const HART_STARTED: u64 = 0;
const HART_STOPPED: u64 = 1;
/// The most bytes one DBCN write copies; the guest sees the count and writes the rest.
const DBCN_CHUNK: usize = 256;

/// The SBI extensions answered here that a guest probes for (the vCPUs report them
/// available): DBCN, which Linux's `earlycon=sbi` writes through. The legacy
/// console calls are never probed, and HSM is the backend's.
pub const EXTENSIONS: &[u64] = &[sbi::DBCN];

/// Answers SBI call `eid` (function in a6, arguments in `args`) if it is one of the
/// firmware services minivisor provides: returns the SBI error for a0 and leaves
/// the value in a1; `None` for any other extension.
pub fn firmware_call(call: FirmwareCall<'_>, eid: u64, args: [u64; 6]) -> Option<u64> {
    let fid = call.vcpu.arch().regs().gpr(reg::A6);
    let [a0, a1, a2, ..] = args;
    let (error, value) = match (eid, fid) {
        (hypercall::TIMER_SSTC, _) => return Some(u64::from(call.vcpu.arch().uses_sstc())),
        (LEGACY_CONSOLE_PUTCHAR, _) => {
            call.console.transmit(a0 as u8);
            // The legacy call returns 0 in a0 and nothing else.
            return Some(0);
        }
        // The legacy call's "nothing pending" is -1.
        (LEGACY_CONSOLE_GETCHAR, _) => {
            return Some(call.console.receive().map_or(u64::MAX, u64::from));
        }
        (sbi::DBCN, DBCN_WRITE) => dbcn_write(&call, a0, a1, a2),
        (sbi::DBCN, DBCN_READ) => dbcn_read(&call, a0, a1, a2),
        (sbi::DBCN, DBCN_WRITE_BYTE) => {
            call.console.transmit(a0 as u8);
            (sbi::SUCCESS, 0)
        }
        (sbi::DBCN, _) => (sbi::ERR_NOT_SUPPORTED, 0),
        (sbi::HSM, HSM_GET_STATUS) => match usize::try_from(a0)
            .ok()
            .and_then(|id| call.runnable.get(id))
            .map(|flag| flag.load(core::sync::atomic::Ordering::Acquire))
        {
            Some(true) => (sbi::SUCCESS, HART_STARTED),
            Some(false) => (sbi::SUCCESS, HART_STOPPED),
            None => (sbi::ERR_INVALID_PARAM, 0),
        },
        _ => return None,
    };
    // Only a running vCPU refuses this, and this one is stopped in its exit.
    let _ = call.vcpu.set_gpr(reg::A1, value);
    Some(error)
}

/// DBCN console_read: up to [`DBCN_CHUNK`] waiting input bytes to guest physical
/// memory at `base_hi:base_lo`; the number read (0 when none waits) goes back in a1.
fn dbcn_read(call: &FirmwareCall<'_>, len: u64, base_lo: u64, base_hi: u64) -> (u64, u64) {
    if base_hi != 0 {
        return (sbi::ERR_INVALID_PARAM, 0);
    }
    let (Ok(base), Ok(len)) = (usize::try_from(base_lo), usize::try_from(len)) else {
        return (sbi::ERR_INVALID_PARAM, 0);
    };
    let mut buf = [0u8; DBCN_CHUNK];
    let mut count = 0usize;
    for slot in buf.iter_mut().take(len) {
        let Some(byte) = call.console.receive() else {
            break;
        };
        *slot = byte;
        count = count.saturating_add(1);
    }
    let Some(bytes) = buf.get(..count) else {
        return (sbi::ERR_INVALID_PARAM, 0);
    };
    // Input taken for a buffer the guest got wrong is lost, as on a real console.
    if call
        .vm
        .write_guest(GuestPhysAddr::from(base), bytes)
        .is_err()
    {
        return (sbi::ERR_INVALID_PARAM, 0);
    }
    (sbi::SUCCESS, count as u64)
}

/// DBCN console_write: up to [`DBCN_CHUNK`] bytes from guest physical memory at
/// `base_hi:base_lo`; the number written goes back in a1.
fn dbcn_write(call: &FirmwareCall<'_>, len: u64, base_lo: u64, base_hi: u64) -> (u64, u64) {
    if base_hi != 0 {
        return (sbi::ERR_INVALID_PARAM, 0);
    }
    let count = usize::try_from(len).map_or(DBCN_CHUNK, |len| len.min(DBCN_CHUNK));
    let Ok(base) = usize::try_from(base_lo) else {
        return (sbi::ERR_INVALID_PARAM, 0);
    };
    let mut buf = [0u8; DBCN_CHUNK];
    let Some(bytes) = buf.get_mut(..count) else {
        return (sbi::ERR_INVALID_PARAM, 0);
    };
    if call
        .vm
        .read_guest(GuestPhysAddr::from(base), bytes)
        .is_err()
    {
        return (sbi::ERR_INVALID_PARAM, 0);
    }
    for byte in bytes.iter() {
        call.console.transmit(*byte);
    }
    (sbi::SUCCESS, count as u64)
}
