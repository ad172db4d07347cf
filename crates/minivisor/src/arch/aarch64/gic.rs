//! The GICv3 of QEMU virt (`gic-version=3`), set up just enough for the host's own
//! per-CPU interrupts: the distributor with affinity routing and group 1 on, each
//! CPU's redistributor awake, and the CPU interface driven through the ICC system
//! registers from EL2. Guests get no physical interrupt; while one runs,
//! `HCR_EL2.IMO` (set by the vCPU backend) routes every physical IRQ to EL2.
//!
//! The CPU interface splits priority drop and deactivation (`ICC_CTLR_EL1.EOImode`
//! = 1): [`end`] does both for the host's own interrupts, while a physical interrupt
//! handed to a guest through a hardware-linked list register (the virtual timer's)
//! only gets its priority dropped ([`priority_drop`]) and stays active until the
//! guest deactivates the virtual one, which deactivates it in hardware.

use core::arch::asm;

/// QEMU virt's distributor and first redistributor; each redistributor is two
/// 64 KiB frames (RD_base, then SGI_base).
const GICD: usize = 0x0800_0000;
const GICR: usize = 0x080a_0000;
const GICR_STRIDE: usize = 0x2_0000;
const SGI_FRAME: usize = 0x1_0000;
/// The most redistributors searched for this CPU's.
const MAX_REDISTRIBUTORS: usize = 64;

/// GICD_CTLR: EnableGrp0, EnableGrp1 and ARE (one security state under QEMU
/// without EL3), and its register-write-pending bit.
const GICD_CTLR_ENABLE: u32 = 0b1 | 0b10 | 1 << 4;
const GICD_CTLR_RWP: u32 = 1 << 31;
/// RD_base registers: GICR_TYPER (affinity in 63:32, `Last` in bit 4) and
/// GICR_WAKER (ProcessorSleep, ChildrenAsleep).
const GICR_TYPER: usize = 0x8;
const TYPER_LAST: u64 = 1 << 4;
const GICR_WAKER: usize = 0x14;
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// SGI_base registers for SGIs and PPIs (INTIDs 0 to 31).
const GICR_IGROUPR0: usize = 0x80;
const GICR_ISENABLER0: usize = 0x100;
const GICR_IPRIORITYR: usize = 0x400;
/// The priority every PPI minivisor enables gets. One value for all: EL2 runs with
/// interrupts masked and takes them only between guest entries, so priorities
/// would only order interrupts pending at once, which minivisor handles one per
/// exit anyway.
const PRIORITY: u8 = 0x80;
/// The PPI of the GIC's maintenance interrupt on QEMU virt (PPI 9): the virtual CPU
/// interface asks the hypervisor to look at the list registers again.
pub const MAINTENANCE_INTID: u32 = 25;
/// ICC_CTLR_EL1.EOImode: ICC_EOIR1_EL1 only drops the priority; ICC_DIR_EL1
/// deactivates.
const ICC_CTLR_EOIMODE: u64 = 1 << 1;
/// ICC_SRE_EL2: system-register interface (SRE) for EL2, and Enable (EL1 may use
/// its own ICC_SRE_EL1).
const ICC_SRE_EL2_SRE_ENABLE: u64 = 0b1 | 1 << 3;
/// The INTID the CPU interface answers when nothing is pending.
pub const SPURIOUS: u64 = 1023;

fn read32(addr: usize) -> u32 {
    // SAFETY: `addr` is a GIC register of QEMU virt, mapped as device memory by the
    // hypervisor's identity map; a 32-bit read has no effect on memory.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

fn write32(addr: usize, value: u32) {
    // SAFETY: `addr` is a GIC register of QEMU virt that only the hypervisor uses,
    // mapped as device memory.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}

fn read64(addr: usize) -> u64 {
    // SAFETY: as `read32`, for a 64-bit register.
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

/// Turns the distributor on: affinity routing and both groups. Once, on the boot
/// CPU, before any CPU's interface is set up.
pub fn init_distributor() {
    write32(GICD, GICD_CTLR_ENABLE);
    while read32(GICD) & GICD_CTLR_RWP != 0 {
        core::hint::spin_loop();
    }
}

/// The RD_base of the redistributor whose affinity is `affinity`
/// (Aff3.Aff2.Aff1.Aff0), if there is one.
fn redistributor(affinity: u32) -> Option<usize> {
    (0..MAX_REDISTRIBUTORS)
        .map(|index| GICR + index * GICR_STRIDE)
        .scan(false, |past_last, base| {
            if *past_last {
                return None;
            }
            let typer = read64(base + GICR_TYPER);
            *past_last = typer & TYPER_LAST != 0;
            Some((base, (typer >> 32) as u32))
        })
        .find_map(|(base, found)| (found == affinity).then_some(base))
}

/// Wakes this CPU's redistributor, makes each of `ppis` (INTIDs below 32) a group 1
/// interrupt and enables it, and turns this CPU's interface on at EL2 with split
/// priority drop and deactivation. Every CPU, once; whether this CPU's
/// redistributor was found.
pub fn init_cpu(mpidr: u64, ppis: &[u32]) -> bool {
    let affinity = ((mpidr >> 8) & 0xff00_0000) as u32 | (mpidr & 0xff_ffff) as u32;
    let Some(rd) = redistributor(affinity) else {
        return false;
    };
    write32(
        rd + GICR_WAKER,
        read32(rd + GICR_WAKER) & !WAKER_PROCESSOR_SLEEP,
    );
    while read32(rd + GICR_WAKER) & WAKER_CHILDREN_ASLEEP != 0 {
        core::hint::spin_loop();
    }
    let sgi = rd + SGI_FRAME;
    for &ppi in ppis {
        let bit = 1u32 << (ppi % 32);
        write32(sgi + GICR_IGROUPR0, read32(sgi + GICR_IGROUPR0) | bit);
        let priority = sgi + GICR_IPRIORITYR + (ppi as usize % 32);
        // SAFETY: the priority registers are byte-accessible; this is the byte of `ppi`.
        unsafe { core::ptr::write_volatile(priority as *mut u8, PRIORITY) };
        write32(sgi + GICR_ISENABLER0, bit);
    }
    // SAFETY: at EL2, the GIC's CPU interface of this CPU, which only the
    // hypervisor uses: system-register access (and EL1's, which the vCPU backend
    // needs for the virtual interface), every priority admitted, split priority
    // drop and deactivation (EOImode 1), group 1 on.
    unsafe {
        asm!(
            "msr S3_4_C12_C9_5, {sre}", // ICC_SRE_EL2
            "isb",
            "msr S3_0_C4_C6_0, {pmr}", // ICC_PMR_EL1
            "msr S3_0_C12_C12_4, {ctlr}", // ICC_CTLR_EL1
            "msr S3_0_C12_C12_7, {one}", // ICC_IGRPEN1_EL1
            "isb",
            sre = in(reg) ICC_SRE_EL2_SRE_ENABLE,
            pmr = in(reg) 0xffu64,
            ctlr = in(reg) ICC_CTLR_EOIMODE,
            one = in(reg) 1u64,
            options(nostack),
        );
    }
    true
}

/// This CPU's `ICH_VTR_EL2`: what its GICv3 virtual CPU interface implements
/// (valid once [`init_cpu`] turned the system-register interface on).
pub fn ich_vtr() -> u64 {
    let vtr: u64;
    // SAFETY: reading ICH_VTR_EL2 at EL2 with ICC_SRE_EL2.SRE = 1 has no side effect.
    unsafe { asm!("mrs {}, S3_4_C12_C11_1", out(reg) vtr, options(nomem, nostack)) };
    vtr
}

/// The highest-priority pending group 1 interrupt, left pending; its INTID
/// ([`SPURIOUS`] when none is pending).
pub fn highest_pending() -> u64 {
    let intid: u64;
    // SAFETY: reading ICC_HPPIR1_EL1 at EL2 has no side effect.
    unsafe { asm!("mrs {}, S3_0_C12_C12_2", out(reg) intid, options(nomem, nostack)) };
    intid & 0xff_ffff
}

/// Acknowledges the highest-priority pending group 1 interrupt; its INTID
/// ([`SPURIOUS`] when none is pending).
pub fn acknowledge() -> u64 {
    let intid: u64;
    // SAFETY: reading ICC_IAR1_EL1 at EL2 acknowledges an interrupt of this CPU's
    // interface; it touches no memory.
    unsafe { asm!("mrs {}, S3_0_C12_C12_0", out(reg) intid, options(nomem, nostack)) };
    intid & 0xff_ffff
}

/// Ends interrupt `intid`: priority drop, then deactivation.
pub fn end(intid: u64) {
    if intid == SPURIOUS {
        return;
    }
    priority_drop(intid);
    deactivate(intid);
}

/// Drops the running priority of interrupt `intid`, which stays active (EOImode 1).
pub fn priority_drop(intid: u64) {
    if intid == SPURIOUS {
        return;
    }
    // SAFETY: writing ICC_EOIR1_EL1 at EL2 drops the priority of an interrupt this
    // CPU acknowledged; it touches no memory.
    unsafe { asm!("msr S3_0_C12_C12_1, {}", "isb", in(reg) intid, options(nomem, nostack)) };
}

/// Deactivates interrupt `intid` (after its priority drop).
pub fn deactivate(intid: u64) {
    // SAFETY: writing ICC_DIR_EL1 at EL2 deactivates an interrupt of this CPU's
    // interface; it touches no memory.
    unsafe { asm!("msr S3_0_C12_C11_1, {}", "isb", in(reg) intid, options(nomem, nostack)) };
}
