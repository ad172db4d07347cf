//! The bare-metal x86_64 implementation of [`super`]: the instructions themselves.

use core::{
    arch::asm,
    sync::atomic::{AtomicUsize, Ordering},
};

use axvm_types::{AxVmError, AxVmResult, HostPhysAddr};

use super::{HostState, XsaveAreas};
use crate::{
    AxVCpuHal, MAX_PHYS_CPUS,
    arch::x86_64::{
        context::{
            start::CR4_VMXE,
            switched::{SwitchedRegs, guest_xcr0_mask as guest_xcr0_mask_of},
            vmcs,
        },
        vcpu::controls::{BASIC_32BIT_ADDRESSES, BASIC_TRUE_CONTROLS, CrFixed, VmxCaps},
    },
    cpu_has_loaded_vcpu,
};

/// Each CPU's VMXON region (0: VMX off there), freed by `hardware_disable`.
static VMXON_REGIONS: [AtomicUsize; MAX_PHYS_CPUS] = [const { AtomicUsize::new(0) }; MAX_PHYS_CPUS];

const IA32_FEATURE_CONTROL: u32 = 0x3a;
const FEATURE_CONTROL_LOCKED: u64 = 1 << 0;
const FEATURE_CONTROL_VMXON_OUTSIDE_SMX: u64 = 1 << 2;
const IA32_SYSENTER_CS: u32 = 0x174;
const IA32_SYSENTER_ESP: u32 = 0x175;
const IA32_SYSENTER_EIP: u32 = 0x176;
const IA32_PAT: u32 = 0x277;
const IA32_VMX_BASIC: u32 = 0x480;
const IA32_VMX_PINBASED_CTLS: u32 = 0x481;
const IA32_VMX_PROCBASED_CTLS: u32 = 0x482;
const IA32_VMX_EXIT_CTLS: u32 = 0x483;
const IA32_VMX_ENTRY_CTLS: u32 = 0x484;
const IA32_VMX_CR0_FIXED0: u32 = 0x486;
const IA32_VMX_CR0_FIXED1: u32 = 0x487;
const IA32_VMX_CR4_FIXED0: u32 = 0x488;
const IA32_VMX_CR4_FIXED1: u32 = 0x489;
const IA32_VMX_PROCBASED_CTLS2: u32 = 0x48b;
const IA32_VMX_EPT_VPID_CAP: u32 = 0x48c;
const IA32_VMX_TRUE_PINBASED_CTLS: u32 = 0x48d;
const IA32_VMX_TRUE_PROCBASED_CTLS: u32 = 0x48e;
const IA32_VMX_TRUE_EXIT_CTLS: u32 = 0x48f;
const IA32_VMX_TRUE_ENTRY_CTLS: u32 = 0x490;
const IA32_EFER: u32 = 0xc000_0080;
const IA32_FS_BASE: u32 = 0xc000_0100;
const IA32_GS_BASE: u32 = 0xc000_0101;
const IA32_KERNEL_GS_BASE: u32 = 0xc000_0102;
/// `CPUID.1:ECX.XSAVE`.
const CPUID_1_ECX_XSAVE: u32 = 1 << 26;
/// `CR4.OSXSAVE`.
const CR4_OSXSAVE: u64 = 1 << 18;
/// RFLAGS.CF: VMfailInvalid.
const RFLAGS_CF: u64 = 1 << 0;
/// RFLAGS.ZF: VMfailValid.
const RFLAGS_ZF: u64 = 1 << 6;

fn rdmsr(msr: u32) -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: the hypervisor runs at CPL 0 (README); every MSR read here exists on
    // a CPU with VMX, which `hardware_enable` checks first or `bind` follows.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags));
    }
    (u64::from(high) << 32) | u64::from(low)
}

fn wrmsr(msr: u32, value: u64) {
    // SAFETY: only IA32_FEATURE_CONTROL is written, while it is unlocked, with the
    // bits that allow VMXON; this does not affect memory safety.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags));
    }
}

macro_rules! read_reg {
    ($insn:literal) => {{
        let value: u64;
        // SAFETY: reading a control register at CPL 0 has no side effect.
        unsafe { asm!($insn, out(reg) value, options(nomem, nostack, preserves_flags)) };
        value
    }};
}

macro_rules! read_selector {
    ($insn:literal) => {{
        let value: u16;
        // SAFETY: reading a segment selector or the task register has no side effect.
        unsafe { asm!($insn, out(reg) value, options(nomem, nostack, preserves_flags)) };
        value
    }};
}

fn vmx_result(flags: u64, what: &str) -> AxVmResult {
    if flags & RFLAGS_CF != 0 {
        log::error!("x86 vCPU: {what} failed (VMfailInvalid)");
        Err(AxVmError::BadState)
    } else if flags & RFLAGS_ZF != 0 {
        let error = vmread(vmcs::VM_INSTRUCTION_ERROR).unwrap_or(0);
        log::error!("x86 vCPU: {what} failed, VM-instruction error {error}");
        Err(AxVmError::BadState)
    } else {
        Ok(())
    }
}

pub(crate) fn cpuid(leaf: u32, subleaf: u32) -> [u32; 4] {
    #[allow(unused_unsafe)]
    // SAFETY: CPUID exists on every x86_64 CPU and has no side effect.
    let r = unsafe { core::arch::x86_64::__cpuid_count(leaf, subleaf) };
    [r.eax, r.ebx, r.ecx, r.edx]
}

pub(crate) fn rdtsc() -> u64 {
    #[allow(unused_unsafe)]
    // SAFETY: RDTSC has no side effect (CR4.TSD only matters outside CPL 0).
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
}

pub(crate) fn caps() -> AxVmResult<VmxCaps> {
    if cpuid(1, 0)[2] & (1 << 5) == 0 {
        log::error!("x86 vCPU: the CPU has no VMX (CPUID.1:ECX.VMX = 0)");
        return Err(AxVmError::Unsupported);
    }
    let basic = rdmsr(IA32_VMX_BASIC);
    let true_msrs = basic & BASIC_TRUE_CONTROLS != 0;
    let pick = |plain, true_msr| rdmsr(if true_msrs { true_msr } else { plain });
    Ok(VmxCaps {
        basic,
        pin: pick(IA32_VMX_PINBASED_CTLS, IA32_VMX_TRUE_PINBASED_CTLS),
        proc: pick(IA32_VMX_PROCBASED_CTLS, IA32_VMX_TRUE_PROCBASED_CTLS),
        exit: pick(IA32_VMX_EXIT_CTLS, IA32_VMX_TRUE_EXIT_CTLS),
        entry: pick(IA32_VMX_ENTRY_CTLS, IA32_VMX_TRUE_ENTRY_CTLS),
        proc2: rdmsr(IA32_VMX_PROCBASED_CTLS2),
        ept_vpid: rdmsr(IA32_VMX_EPT_VPID_CAP),
        cr: CrFixed {
            cr0_fixed0: rdmsr(IA32_VMX_CR0_FIXED0),
            cr0_fixed1: rdmsr(IA32_VMX_CR0_FIXED1),
            cr4_fixed0: rdmsr(IA32_VMX_CR4_FIXED0),
            cr4_fixed1: rdmsr(IA32_VMX_CR4_FIXED1),
        },
    })
}

pub(crate) fn hardware_enable<H: AxVCpuHal>() -> AxVmResult {
    let caps = caps()?;
    if read_reg!("mov {}, cr4") & CR4_VMXE != 0 {
        return Ok(());
    }
    let region = VMXON_REGIONS
        .get(H::current_cpu_id())
        .ok_or(AxVmError::InvalidInput)?;
    let control = rdmsr(IA32_FEATURE_CONTROL);
    if control & FEATURE_CONTROL_LOCKED == 0 {
        wrmsr(
            IA32_FEATURE_CONTROL,
            control | FEATURE_CONTROL_LOCKED | FEATURE_CONTROL_VMXON_OUTSIDE_SMX,
        );
    } else if control & FEATURE_CONTROL_VMXON_OUTSIDE_SMX == 0 {
        log::error!("x86 vCPU: the firmware locked VMX off (IA32_FEATURE_CONTROL {control:#x})");
        return Err(AxVmError::Unsupported);
    }
    let frame = H::alloc_frame().ok_or(AxVmError::NoMemory)?;
    let paddr = frame.as_usize() as u64;
    if caps.basic & BASIC_32BIT_ADDRESSES != 0 && paddr >> 32 != 0 {
        H::dealloc_frame(frame);
        return Err(AxVmError::NoMemory);
    }
    super::write_revision::<H>(frame, caps.revision_id());
    let cr0 = (read_reg!("mov {}, cr0") | caps.cr.cr0_fixed0) & caps.cr.cr0_fixed1;
    let old_cr4 = read_reg!("mov {}, cr4");
    // CR4.OSXSAVE lets `bind` switch the guests' extended state with XSAVE.
    let osxsave = if cpuid(1, 0)[2] & CPUID_1_ECX_XSAVE != 0 {
        CR4_OSXSAVE
    } else {
        0
    };
    let cr4 = (old_cr4 | caps.cr.cr4_fixed0 | CR4_VMXE | osxsave) & caps.cr.cr4_fixed1;
    // SAFETY: the fixed bits VMX requires (NE, and PE/PG already set in long mode),
    // CR4.VMXE and CR4.OSXSAVE do not change the translation or protection the
    // hypervisor runs under.
    unsafe {
        asm!("mov cr0, {}", in(reg) cr0, options(nostack, preserves_flags));
        asm!("mov cr4, {}", in(reg) cr4, options(nostack, preserves_flags));
    }
    let flags: u64;
    // SAFETY: VMXON reads the 8-byte physical address on the stack; the frame it
    // names is a zeroed 4 KiB frame holding the revision id, owned by VMX until
    // `hardware_disable` leaves VMX operation on this CPU.
    unsafe {
        asm!(
            "vmxon qword ptr [{addr}]",
            "pushfq",
            "pop {flags}",
            addr = in(reg) &paddr,
            flags = lateout(reg) flags,
        );
    }
    if let Err(error) = vmx_result(flags, "VMXON") {
        // SAFETY: restores the CR4 the hypervisor had before.
        unsafe { asm!("mov cr4, {}", in(reg) old_cr4, options(nostack, preserves_flags)) };
        H::dealloc_frame(frame);
        return Err(error);
    }
    region.store(frame.as_usize(), Ordering::Release);
    Ok(())
}

pub(crate) fn hardware_disable<H: AxVCpuHal>() -> AxVmResult {
    let cpu = H::current_cpu_id();
    if read_reg!("mov {}, cr4") & CR4_VMXE == 0 || cpu_has_loaded_vcpu(cpu) {
        return Err(AxVmError::BadState);
    }
    // SAFETY: the CPU is in VMX root operation (CR4.VMXE is only set by
    // `hardware_enable` with VMXON); VMXOFF leaves it, and CR4.VMXE may then be
    // cleared.
    unsafe { asm!("vmxoff", options(nostack)) };
    let cr4 = read_reg!("mov {}, cr4") & !CR4_VMXE;
    // SAFETY: outside VMX operation CR4.VMXE may be cleared; nothing else changes.
    unsafe { asm!("mov cr4, {}", in(reg) cr4, options(nostack, preserves_flags)) };
    // Outside VMX operation the CPU no longer uses its VMXON region.
    let frame = VMXON_REGIONS
        .get(cpu)
        .map_or(0, |region| region.swap(0, Ordering::AcqRel));
    if frame != 0 {
        H::dealloc_frame(HostPhysAddr::from(frame));
    }
    Ok(())
}

macro_rules! vmx_pointer_insn {
    ($name:ident, $insn:literal) => {
        pub(crate) fn $name(paddr: u64) -> AxVmResult {
            let flags: u64;
            // SAFETY: the instruction reads the 8-byte physical address on the
            // stack; it names a VMCS frame the vCPU owns, stamped with the revision id.
            unsafe {
                asm!(
                    concat!($insn, " qword ptr [{addr}]"),
                    "pushfq",
                    "pop {flags}",
                    addr = in(reg) &paddr,
                    flags = lateout(reg) flags,
                );
            }
            vmx_result(flags, $insn)
        }
    };
}

vmx_pointer_insn!(vmclear, "vmclear");
vmx_pointer_insn!(vmptrld, "vmptrld");

pub(crate) fn vmread(field: u32) -> AxVmResult<u64> {
    let (value, flags): (u64, u64);
    // SAFETY: VMREAD of the current VMCS only writes the output register.
    unsafe {
        asm!(
            "vmread {value}, {field}",
            "pushfq",
            "pop {flags}",
            field = in(reg) u64::from(field),
            value = lateout(reg) value,
            flags = lateout(reg) flags,
        );
    }
    if flags & (RFLAGS_CF | RFLAGS_ZF) != 0 {
        return Err(AxVmError::BadState);
    }
    Ok(value)
}

pub(crate) fn vmwrite(field: u32, value: u64) -> AxVmResult {
    let flags: u64;
    // SAFETY: VMWRITE changes only the current VMCS, which belongs to the bound
    // vCPU; the values written are checked by the next VM entry.
    unsafe {
        asm!(
            "vmwrite {field}, {value}",
            "pushfq",
            "pop {flags}",
            field = in(reg) u64::from(field),
            value = in(reg) value,
            flags = lateout(reg) flags,
        );
    }
    if flags & (RFLAGS_CF | RFLAGS_ZF) != 0 {
        let error = vmread(vmcs::VM_INSTRUCTION_ERROR).unwrap_or(0);
        log::error!("x86 vCPU: VMWRITE of field {field:#x} failed, VM-instruction error {error}");
        return Err(AxVmError::BadState);
    }
    Ok(())
}

pub(crate) fn invept(kind: u64, eptp: u64) -> AxVmResult {
    let descriptor: [u64; 2] = [eptp, 0];
    let flags: u64;
    // SAFETY: INVEPT reads the 16-byte descriptor on the stack and only drops
    // cached translations.
    unsafe {
        asm!(
            "invept {kind}, [{descriptor}]",
            "pushfq",
            "pop {flags}",
            kind = in(reg) kind,
            descriptor = in(reg) descriptor.as_ptr(),
            flags = lateout(reg) flags,
        );
    }
    vmx_result(flags, "INVEPT")
}

pub(crate) fn invvpid(kind: u64, vpid: u16) -> AxVmResult {
    let descriptor: [u64; 2] = [u64::from(vpid), 0];
    let flags: u64;
    // SAFETY: INVVPID reads the 16-byte descriptor on the stack and only drops
    // cached translations.
    unsafe {
        asm!(
            "invvpid {kind}, [{descriptor}]",
            "pushfq",
            "pop {flags}",
            kind = in(reg) kind,
            descriptor = in(reg) descriptor.as_ptr(),
            flags = lateout(reg) flags,
        );
    }
    vmx_result(flags, "INVVPID")
}

/// A GDTR/IDTR image as SGDT/SIDT store it.
#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
struct TableRegister {
    limit: u16,
    base: u64,
}

pub(crate) fn host_state() -> AxVmResult<HostState> {
    let mut gdtr = TableRegister::default();
    let mut idtr = TableRegister::default();
    // SAFETY: SGDT/SIDT store 10 bytes into the packed images on the stack.
    unsafe {
        asm!("sgdt [{}]", in(reg) &raw mut gdtr, options(nostack, preserves_flags));
        asm!("sidt [{}]", in(reg) &raw mut idtr, options(nostack, preserves_flags));
    }
    let cs = read_selector!("mov {:x}, cs");
    let tr = read_selector!("str {:x}");
    if cs & 7 != 0 || tr & 7 != 0 || tr == 0 {
        log::error!(
            "x86 vCPU: the host needs CS and TR with RPL 0 in the GDT (CS {cs:#x}, TR {tr:#x})"
        );
        return Err(AxVmError::BadState);
    }
    let gdtr_base = gdtr.base;
    if u64::from(tr) + 15 > u64::from(gdtr.limit) {
        log::error!("x86 vCPU: TR {tr:#x} is outside the GDT");
        return Err(AxVmError::BadState);
    }
    let descriptor = gdtr_base.wrapping_add(u64::from(tr)) as *const u64;
    // SAFETY: the 16-byte TSS descriptor lies inside the loaded GDT (checked
    // against its limit), which the hypervisor keeps mapped.
    let (low, high) = unsafe {
        (
            descriptor.read_unaligned(),
            descriptor.wrapping_add(1).read_unaligned(),
        )
    };
    let tr_base =
        ((low >> 16) & 0xff_ffff) | (((low >> 56) & 0xff) << 24) | ((high & 0xffff_ffff) << 32);
    // Data selectors with RPL or TI bits would fail the host-state checks; the
    // 64-bit host does not need them (null is valid).
    let data = |selector: u16| if selector & 7 == 0 { selector } else { 0 };
    Ok(HostState {
        cr0: read_reg!("mov {}, cr0"),
        cr3: read_reg!("mov {}, cr3"),
        cr4: read_reg!("mov {}, cr4"),
        cs,
        ss: data(read_selector!("mov {:x}, ss")),
        ds: data(read_selector!("mov {:x}, ds")),
        es: data(read_selector!("mov {:x}, es")),
        fs: data(read_selector!("mov {:x}, fs")),
        gs: data(read_selector!("mov {:x}, gs")),
        tr,
        fs_base: rdmsr(IA32_FS_BASE),
        gs_base: rdmsr(IA32_GS_BASE),
        tr_base,
        gdtr_base,
        gdtr_limit: gdtr.limit,
        idtr_base: idtr.base,
        idtr_limit: idtr.limit,
        sysenter_cs: rdmsr(IA32_SYSENTER_CS),
        sysenter_esp: rdmsr(IA32_SYSENTER_ESP),
        sysenter_eip: rdmsr(IA32_SYSENTER_EIP),
        efer: rdmsr(IA32_EFER),
        pat: rdmsr(IA32_PAT),
    })
}

pub(crate) fn restore_descriptor_tables(host: &HostState) {
    let gdtr = TableRegister {
        limit: host.gdtr_limit,
        base: host.gdtr_base,
    };
    let idtr = TableRegister {
        limit: host.idtr_limit,
        base: host.idtr_base,
    };
    // SAFETY: reloads the hypervisor's own GDT and IDT (read by `host_state`), whose
    // limits a VM exit set to 0xffff; bases are unchanged.
    unsafe {
        asm!("lgdt [{}]", in(reg) &raw const gdtr, options(readonly, nostack, preserves_flags));
        asm!("lidt [{}]", in(reg) &raw const idtr, options(readonly, nostack, preserves_flags));
    }
}

/// The components guests may enable on this CPU (0: no usable XSAVE, CR4.OSXSAVE
/// off).
pub(crate) fn guest_xcr0_mask() -> u64 {
    if read_reg!("mov {}, cr4") & CR4_OSXSAVE == 0 {
        return 0;
    }
    let [low, _, max_size, high] = cpuid(0xd, 0);
    guest_xcr0_mask_of(low, high, max_size)
}

fn xgetbv0() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: XGETBV of XCR0 only reads; CR4.OSXSAVE is set (checked by callers
    // through a non-zero mask).
    unsafe {
        asm!("xgetbv", in("ecx") 0, out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags));
    }
    (u64::from(high) << 32) | u64::from(low)
}

fn xsetbv0(value: u64) {
    // SAFETY: callers pass the host's own XCR0 or a value `xcr0_is_valid` accepted
    // for the CPU's components, so XSETBV cannot fault; the hypervisor keeps no
    // state in the registers this enables or disables (README).
    unsafe {
        asm!("xsetbv", in("ecx") 0, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nomem, nostack, preserves_flags));
    }
}

fn xsave<H: AxVCpuHal>(area: HostPhysAddr, mask: u64) {
    let ptr = H::phys_to_virt(area).as_mut_ptr();
    // SAFETY: `area` is a 4 KiB frame the vCPU owns (HAL contract), 64-byte
    // aligned and larger than the XSAVE area of the components in `mask`
    // (`guest_xcr0_mask` and `bind` check the sizes).
    unsafe {
        asm!("xsave64 [{}]", in(reg) ptr, in("eax") mask as u32, in("edx") (mask >> 32) as u32, options(nostack, preserves_flags));
    }
}

fn xrstor<H: AxVCpuHal>(area: HostPhysAddr, mask: u64) {
    let ptr = H::phys_to_virt(area).as_ptr();
    // SAFETY: as for `xsave`; the area holds a valid image: zero (init state, with
    // a valid MXCSR) or one XSAVE wrote, never guest-written memory.
    unsafe {
        asm!("xrstor64 [{}]", in(reg) ptr, in("eax") mask as u32, in("edx") (mask >> 32) as u32, options(readonly, nostack, preserves_flags));
    }
}

/// Saves the host's switched registers and extended state, and loads the guest's:
/// `bind`'s half of the switch. The host's values are returned.
pub(crate) fn switch_to_guest<H: AxVCpuHal>(
    guest: &SwitchedRegs,
    areas: Option<&XsaveAreas>,
) -> SwitchedRegs {
    let host = SwitchedRegs {
        kernel_gs_base: rdmsr(IA32_KERNEL_GS_BASE),
        cr2: read_reg!("mov {}, cr2"),
        xcr0: if areas.is_some() { xgetbv0() } else { 0 },
    };
    write_kernel_gs_base(guest.kernel_gs_base);
    write_cr2(guest.cr2);
    if let Some(areas) = areas {
        xsave::<H>(areas.host, host.xcr0);
        // Every component a guest may enable is loaded, so none keeps another
        // context's values for the guest to find after an XSETBV.
        xsetbv0(areas.mask);
        xrstor::<H>(areas.guest, areas.mask);
        xsetbv0(guest.xcr0);
    }
    host
}

/// Saves the guest's switched registers and extended state, and gives the host
/// back its own: `unbind`'s half.
pub(crate) fn switch_to_host<H: AxVCpuHal>(
    guest: &mut SwitchedRegs,
    host: &SwitchedRegs,
    areas: Option<&XsaveAreas>,
) {
    guest.kernel_gs_base = rdmsr(IA32_KERNEL_GS_BASE);
    guest.cr2 = read_reg!("mov {}, cr2");
    write_kernel_gs_base(host.kernel_gs_base);
    write_cr2(host.cr2);
    if let Some(areas) = areas {
        guest.xcr0 = xgetbv0();
        xsetbv0(areas.mask);
        xsave::<H>(areas.guest, areas.mask);
        xsetbv0(host.xcr0);
        xrstor::<H>(areas.host, host.xcr0);
    }
}

/// Sets the live XCR0 of a bound vCPU after its `XSETBV` was checked.
pub(crate) fn set_guest_xcr0(value: u64) {
    xsetbv0(value);
}

/// The size of the host's own XSAVE area (for its current XCR0).
pub(crate) fn host_xsave_size() -> u32 {
    cpuid(0xd, 0)[1]
}

fn write_kernel_gs_base(value: u64) {
    // SAFETY: IA32_KERNEL_GS_BASE only matters to SWAPGS, which the hypervisor does
    // not execute while a vCPU is bound (README); a non-canonical value would #GP,
    // and values come from RDMSR of the same MSR only.
    unsafe {
        asm!("wrmsr", in("ecx") IA32_KERNEL_GS_BASE, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags));
    }
}

fn write_cr2(value: u64) {
    // SAFETY: CR2 only reports page-fault addresses; writing it changes no
    // translation or protection.
    unsafe { asm!("mov cr2, {}", in(reg) value, options(nostack, preserves_flags)) };
}

/// Hands an NMI that arrived while the guest ran to the host's NMI handler.
pub(crate) fn deliver_nmi_to_host() {
    // SAFETY: vector 2 of the host IDT (restored after the exit) is its NMI
    // handler, which returns with IRET like any interrupt gate.
    unsafe { asm!("int 2", options(nostack)) };
}
