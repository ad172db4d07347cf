//! The CSR accesses of `bind`, `unbind` and `run`: the VS-level CSRs, the hypervisor
//! CSRs of a guest, the G-stage capabilities of the hart. Off riscv64 these are
//! stand-ins so the rest of the backend can be tested on any host.

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use axvm_types::AxVmResult;

use super::{
    context::{FpState, VsState},
    exit::FirmwareCall,
    paging::GStageCaps,
};

/// `hedeleg` of a guest: the exceptions the guest handles itself (instruction
/// misaligned, illegal instruction, breakpoint, `ecall` from VU-mode, and the
/// VS-stage page faults).
pub const HEDELEG: u64 =
    (1 << 0) | (1 << 2) | (1 << 3) | (1 << 8) | (1 << 12) | (1 << 13) | (1 << 15);
/// `hideleg` of a guest: its VS-level software, timer and external interrupts.
pub const HIDELEG: u64 = (1 << 2) | (1 << 6) | (1 << 10);
/// `hcounteren` of a guest: `cycle`, `time` and `instret` readable. `TM` (time)
/// also gives a guest with Sstc its `stimecmp` (without it, a VS access to
/// `stimecmp` raises a virtual-instruction exception even with `henvcfg.STCE`).
pub const HCOUNTEREN: u64 = 0b111;
/// `henvcfg.STCE`: the guest's `stimecmp` is `vstimecmp` (Sstc), whose comparison
/// with `time` drives the VS timer interrupt without the hypervisor.
pub const HENVCFG_STCE: u64 = 1 << 63;

/// The guest state `bind` loads and `unbind` saves.
#[cfg_attr(not(target_arch = "riscv64"), allow(dead_code))]
pub(crate) struct GuestHwState<'a> {
    pub vs: &'a mut VsState,
    pub fp: &'a mut FpState,
    /// `save` only: the guest changed its FP registers since `load`.
    pub fp_dirty: bool,
    /// The guest's timer is Sstc's: `henvcfg.STCE` on, `vstimecmp` switched.
    pub sstc: bool,
    /// `load` only: the hart still holds this vCPU's FP registers and VS-stage
    /// translations (see [`rebind`]), so neither is loaded nor fenced again.
    pub resident: bool,
    pub hgatp: u64,
    pub vmid: u16,
}

/// The hypervisor's CSRs that `bind` replaces and `unbind` restores.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(target_arch = "riscv64"), allow(dead_code))]
pub(crate) struct HostHwState {
    hedeleg: u64,
    hideleg: u64,
    hcounteren: u64,
    henvcfg: u64,
    hgatp: u64,
}

#[cfg(target_arch = "riscv64")]
mod imp {
    use axvm_types::AxVmResult;

    use super::{
        FirmwareCall, GStageCaps, GuestHwState, HCOUNTEREN, HEDELEG, HENVCFG_STCE, HIDELEG,
        HostHwState, VsState,
    };
    use crate::arch::riscv64::entry;

    macro_rules! read_csr {
        ($csr:literal) => {{
            let value: u64;
            // SAFETY: reading a CSR in HS-mode has no side effect on memory.
            unsafe { core::arch::asm!(concat!("csrr {}, ", $csr), out(reg) value, options(nomem, nostack)) };
            value
        }};
    }

    macro_rules! write_csr {
        ($csr:literal, $value:expr) => {{
            let value: u64 = $value;
            // SAFETY: the backend owns these CSRs between bind and unbind; writing them
            // changes the state of the bound guest only.
            unsafe { core::arch::asm!(concat!("csrw ", $csr, ", {}"), in(reg) value, options(nomem, nostack)) };
        }};
    }

    fn fence_gvma(vmid: u16) {
        // SAFETY: a TLB fence changes no memory; hfence.gvma x0, vmid (encoded with
        // `.insn` so no assembler H-extension support is needed).
        unsafe {
            core::arch::asm!(".insn r 0x73, 0, 0x31, x0, x0, {}", in(reg) u64::from(vmid), options(nostack))
        };
    }

    pub(crate) fn gstage_caps() -> AxVmResult<GStageCaps> {
        let saved = read_csr!("hgatp");
        // Bare mode with every VMID bit set: the bits that stick are VMIDLEN.
        write_csr!("hgatp", 0x3fff << 44);
        let vmid_bits = ((read_csr!("hgatp") >> 44) & 0x3fff).count_ones() as u8;
        // MODE is WARL: an unsupported mode leaves the register unchanged.
        write_csr!("hgatp", 9 << 60);
        let sv48x4 = read_csr!("hgatp") >> 60 == 9;
        write_csr!("hgatp", saved);
        Ok(GStageCaps { vmid_bits, sv48x4 })
    }

    pub(crate) fn write_hgatp(hgatp: u64, vmid: u16) {
        write_csr!("hgatp", hgatp);
        fence_gvma(vmid);
    }

    pub(crate) fn write_hvip(hvip: u64) {
        write_csr!("hvip", hvip);
    }

    pub(crate) fn read_hvip() -> u64 {
        read_csr!("hvip")
    }

    pub(crate) fn read_vsie() -> u64 {
        read_csr!("vsie")
    }

    // vstimecmp is CSR 0x24d and henvcfg 0x60a: numbers, which every assembler takes.
    pub(crate) fn read_vstimecmp() -> u64 {
        read_csr!("0x24d")
    }

    pub(crate) fn write_vstimecmp(deadline: u64) {
        write_csr!("0x24d", deadline);
    }

    pub(crate) fn probe_sstc() -> bool {
        let saved = read_csr!("0x60a");
        // STCE is read-only zero unless the hart has Sstc and the firmware let HS-mode
        // have it (menvcfg.STCE).
        write_csr!("0x60a", saved | HENVCFG_STCE);
        let sstc = read_csr!("0x60a") & HENVCFG_STCE != 0;
        write_csr!("0x60a", saved);
        sstc
    }

    pub(crate) fn time() -> u64 {
        read_csr!("time")
    }

    pub(crate) fn fence_guest() {
        // SAFETY: hfence.vvma x0, x0 (all VS-stage translations of the current VMID)
        // and fence.i change no memory.
        unsafe {
            core::arch::asm!(
                ".insn r 0x73, 0, 0x11, x0, x0, x0",
                "fence.i",
                options(nostack)
            )
        };
    }

    pub(crate) fn firmware_call(call: FirmwareCall) -> u64 {
        let [a0, a1, a2, a3, a4] = call.args;
        let error: u64;
        // SAFETY: an SBI call to the M-mode firmware, made from HS-mode; by the SBI
        // calling convention it returns in a0 (error) and a1 (value) and preserves
        // every other register. RFENCE reads no memory of ours.
        unsafe {
            core::arch::asm!(
                "ecall",
                inlateout("a0") a0 => error,
                inlateout("a1") a1 => _,
                in("a2") a2,
                in("a3") a3,
                in("a4") a4,
                in("a6") call.fid,
                in("a7") call.eid,
                options(nostack)
            )
        };
        error
    }

    pub(crate) fn load(guest: GuestHwState<'_>) -> AxVmResult<HostHwState> {
        let host = HostHwState {
            hedeleg: read_csr!("hedeleg"),
            hideleg: read_csr!("hideleg"),
            hcounteren: read_csr!("hcounteren"),
            henvcfg: read_csr!("0x60a"),
            hgatp: read_csr!("hgatp"),
        };
        write_csr!("hedeleg", HEDELEG);
        write_csr!("hideleg", HIDELEG);
        write_csr!("hcounteren", HCOUNTEREN);
        write_csr!("htimedelta", 0);
        write_csr!("0x60a", if guest.sstc { HENVCFG_STCE } else { 0 });
        let vs = &*guest.vs;
        write_csr!("vsstatus", vs.vsstatus);
        write_csr!("vsie", vs.vsie);
        write_csr!("vstvec", vs.vstvec);
        write_csr!("vsscratch", vs.vsscratch);
        write_csr!("vsepc", vs.vsepc);
        write_csr!("vscause", vs.vscause);
        write_csr!("vstval", vs.vstval);
        write_csr!("vsatp", vs.vsatp);
        if guest.sstc {
            write_vstimecmp(vs.vstimecmp);
        } else if super::has_sstc() {
            // Without STCE the hart's vstimecmp is not the guest's, but QEMU 10 raises
            // VSTIP from it all the same (its reset value 0 is always past): never.
            write_vstimecmp(u64::MAX);
        }
        write_hgatp(guest.hgatp, guest.vmid);
        if !guest.resident {
            // VS-stage translations and instructions this hart cached for the VMID
            // while it ran another vCPU of the VM may be stale: fences the guest
            // asked for only on the harts it named missed this one.
            fence_guest();
            // Even for a guest that never enabled FP: the registers hold the
            // previous guest's values, which this one could read after setting FS.
            entry::load_fp(guest.fp);
        }
        Ok(host)
    }

    pub(crate) fn save(guest: GuestHwState<'_>, host: HostHwState) {
        let vs: &mut VsState = guest.vs;
        vs.vsstatus = read_csr!("vsstatus");
        vs.vsie = read_csr!("vsie");
        vs.vstvec = read_csr!("vstvec");
        vs.vsscratch = read_csr!("vsscratch");
        vs.vsepc = read_csr!("vsepc");
        vs.vscause = read_csr!("vscause");
        vs.vstval = read_csr!("vstval");
        vs.vsatp = read_csr!("vsatp");
        if guest.sstc {
            vs.vstimecmp = read_vstimecmp();
            // The next guest of this hart must not find this one's timer pending.
            write_vstimecmp(u64::MAX);
        }
        if guest.fp_dirty {
            entry::save_fp(guest.fp);
        }
        // No virtual interrupt of this guest may stay pending for the next one.
        write_csr!("hvip", 0);
        write_csr!("hedeleg", host.hedeleg);
        write_csr!("hideleg", host.hideleg);
        write_csr!("hcounteren", host.hcounteren);
        write_csr!("0x60a", host.henvcfg);
        write_csr!("hgatp", host.hgatp);
    }
}

#[cfg(not(target_arch = "riscv64"))]
mod imp {
    use axvm_types::{AxVmError, AxVmResult};

    use super::{FirmwareCall, GStageCaps, GuestHwState, HostHwState};

    /// Off riscv64 there is no hart to ask: a model with 14 VMID bits and Sv48x4, so
    /// set-up can be exercised in host tests.
    #[allow(clippy::unnecessary_wraps)] // Same signature as on riscv64.
    pub(crate) fn gstage_caps() -> AxVmResult<GStageCaps> {
        Ok(GStageCaps {
            vmid_bits: 14,
            sv48x4: true,
        })
    }

    pub(crate) fn write_hgatp(_hgatp: u64, _vmid: u16) {}

    pub(crate) fn write_hvip(_hvip: u64) {}

    pub(crate) const fn read_hvip() -> u64 {
        0
    }

    pub(crate) const fn read_vsie() -> u64 {
        0
    }

    pub(crate) const fn read_vstimecmp() -> u64 {
        u64::MAX
    }

    pub(crate) fn write_vstimecmp(_deadline: u64) {}

    /// The model hart has Sstc, as QEMU's rv64 has, so both timer paths can be set
    /// up in host tests.
    pub(crate) const fn probe_sstc() -> bool {
        true
    }

    pub(crate) fn time() -> u64 {
        0
    }

    pub(crate) fn fence_guest() {}

    /// No firmware to call: success, so the rest of the path runs in host tests.
    pub(crate) const fn firmware_call(_call: FirmwareCall) -> u64 {
        0
    }

    pub(crate) fn load(_guest: GuestHwState<'_>) -> AxVmResult<HostHwState> {
        Err(AxVmError::Unsupported)
    }

    pub(crate) fn save(_guest: GuestHwState<'_>, _host: HostHwState) {}
}

/// Per physical hart: how many times a vCPU was bound there.
static BINDS: [AtomicU64; crate::MAX_PHYS_CPUS] =
    [const { AtomicU64::new(0) }; crate::MAX_PHYS_CPUS];

/// Where a vCPU was last bound: the hart and the hart's [`BINDS`] count then.
pub(crate) type Residency = Option<(usize, u64)>;

/// Records that a vCPU last bound at `last` is being bound on hart `cpu` (the
/// calling hart); returns its new residency and whether no other vCPU was bound
/// on `cpu` since its own last bind there. Then the hart still holds its FP
/// registers (saved into, or loaded from, the vCPU by the last `unbind`/`bind`, and
/// untouched by the hypervisor, README) and its VS-stage translations (and every
/// fence the guest asked for reached them), so `bind` need not load or fence:
/// a hypervisor that unbinds and binds one vCPU per exit does not pay for it.
pub(crate) fn rebind(last: Residency, cpu: usize) -> (Residency, bool) {
    let Some(count) = BINDS.get(cpu) else {
        return (None, false);
    };
    // Relaxed: only `cpu` itself binds vCPUs on `cpu` (`bind` claims the calling
    // CPU, one vCPU at a time), so the count is never raced; it is atomic only to
    // be a safe static.
    let current = count.load(Ordering::Relaxed);
    let next = current.wrapping_add(1);
    count.store(next, Ordering::Relaxed);
    (Some((cpu, next)), last == Some((cpu, current)))
}

/// What the current hart supports for G-stage translation.
pub(crate) fn gstage_caps() -> AxVmResult<GStageCaps> {
    imp::gstage_caps()
}

/// Writes `hgatp` of the bound vCPU and fences its VMID's cached translations.
pub(crate) fn write_hgatp(hgatp: u64, vmid: u16) {
    imp::write_hgatp(hgatp, vmid);
}

/// Writes `hvip`: the virtual interrupts pending for the bound guest.
pub(crate) fn write_hvip(hvip: u64) {
    imp::write_hvip(hvip);
}

/// `hvip` as the hart holds it (the guest clears `VSSIP` through its `sip`).
pub(crate) fn read_hvip() -> u64 {
    imp::read_hvip()
}

/// The bound guest's `vsie` (bits 1, 5, 9: its software, timer, external enables).
pub(crate) fn read_vsie() -> u64 {
    imp::read_vsie()
}

/// The bound guest's `vstimecmp` (Sstc only).
pub(crate) fn read_vstimecmp() -> u64 {
    imp::read_vstimecmp()
}

/// Sets the bound guest's `vstimecmp` (Sstc only).
pub(crate) fn write_vstimecmp(deadline: u64) {
    imp::write_vstimecmp(deadline);
}

/// Whether the harts have Sstc for guests: probed on the first call (which must be
/// made in HS-mode: it writes `henvcfg`, and gives it back), then remembered.
static SSTC: AtomicU8 = AtomicU8::new(SSTC_UNKNOWN);
const SSTC_UNKNOWN: u8 = 0;
const SSTC_ABSENT: u8 = 1;
const SSTC_PRESENT: u8 = 2;

/// Whether the hart offers guests Sstc: `henvcfg.STCE` can be set (the hart has
/// Sstc and the firmware enabled it for HS-mode in `menvcfg`). Probed on the first
/// call, in HS-mode, and remembered (the harts of a machine are assumed alike); off
/// riscv64 the model hart has it.
///
/// A vCPU set up with [`Riscv64SetupConfig::sstc`](super::Riscv64SetupConfig::sstc)
/// uses it when this is true ([`Riscv64VCpu::uses_sstc`](super::Riscv64VCpu::uses_sstc)):
/// only then may the guest's device tree list `sstc` in its ISA.
pub fn has_sstc() -> bool {
    match SSTC.load(Ordering::Relaxed) {
        SSTC_ABSENT => false,
        SSTC_PRESENT => true,
        _ => {
            let sstc = imp::probe_sstc();
            let value = if sstc { SSTC_PRESENT } else { SSTC_ABSENT };
            SSTC.store(value, Ordering::Relaxed);
            sstc
        }
    }
}

/// The `time` CSR.
pub(crate) fn time() -> u64 {
    imp::time()
}

/// Fences the bound guest's VS-stage translations and instruction fetches on this
/// hart (a remote fence naming only the calling vCPU, and every `bind`).
pub(crate) fn fence_guest() {
    imp::fence_guest();
}

/// Makes an SBI call to the firmware (RFENCE for the guest's remote fences);
/// returns its SBI error code.
pub(crate) fn firmware_call(call: FirmwareCall) -> u64 {
    imp::firmware_call(call)
}

/// Loads a vCPU onto this hart (VS CSRs, `hgatp`, FP registers); returns the
/// hypervisor's CSRs to restore later.
pub(crate) fn load(guest: GuestHwState<'_>) -> AxVmResult<HostHwState> {
    imp::load(guest)
}

/// Saves the bound vCPU from this hart (its FP registers only when `fp_dirty`) and
/// restores the hypervisor's CSRs.
pub(crate) fn save(guest: GuestHwState<'_>, host: HostHwState) {
    imp::save(guest, host);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vcpu_is_resident_until_another_binds_on_its_hart() {
        // Harts of their own: tests run in parallel.
        let (a, b) = (1000, 1001);
        let (first, resident) = rebind(None, a);
        assert!(!resident, "never bound: load everything");
        let (again, resident) = rebind(first, a);
        assert!(resident, "re-bound with nobody in between");
        // Another vCPU on the hart.
        let (_, other) = rebind(None, a);
        assert!(!other);
        let (after, resident) = rebind(again, a);
        assert!(!resident, "another vCPU ran there");
        // Bound on another hart, then back.
        let (elsewhere, resident) = rebind(after, b);
        assert!(!resident);
        let (_, resident) = rebind(elsewhere, a);
        assert!(!resident, "ran elsewhere since");
        assert_eq!(rebind(None, crate::MAX_PHYS_CPUS), (None, false));
    }
}
