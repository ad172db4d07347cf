//! Exit handling against a model of the VMCS, host memory and CPUID.

use alloc::{vec, vec::Vec};

use axvm_types::{AccessWidth, MappingFlags};

use super::*;
use crate::arch::x86_64::{
    context::{
        start::{CR0_NE, CR0_PG, CR4_PAE, EFER_LME},
        switched::{XCR0_AVX, XCR0_MANAGED, XCR0_SSE, XCR0_X87},
        vmcs::FakeVmcs,
    },
    paging::tests::{EPTP, Phys, ept},
    vcpu::controls::ENTRY_IA32E_GUEST,
};

/// The machine of the tests: a VMCS model, host memory with the EPT of
/// `paging::tests::ept` (guest 0..16 MiB at host 0x4000_0000, guest
/// 0x20_0000..0x40_0000 at host 0x8000_0000), and a CPUID that answers with VMX.
#[derive(Default)]
pub(crate) struct FakeEnv {
    pub vmcs: FakeVmcs,
    pub phys: Phys,
    /// The XCR0 values `XSETBV` exits set.
    pub xcr0: Vec<u64>,
    /// How many NMIs went to the host.
    pub host_nmis: usize,
}

impl VmcsAccess for FakeEnv {
    fn read(&self, field: u32) -> AxVmResult<u64> {
        self.vmcs.read(field)
    }
    fn write(&mut self, field: u32, value: u64) -> AxVmResult {
        self.vmcs.write(field, value)
    }
}

impl ExitEnv for FakeEnv {
    fn cpuid(&self, leaf: u32, _subleaf: u32) -> [u32; 4] {
        [leaf, 0, 1 << 5, 1]
    }
    fn rdtsc(&self) -> u64 {
        0x1234_5678_9abc
    }
    fn read_host(&self, hpa: u64) -> Option<u64> {
        self.phys.reader()(hpa)
    }
    fn set_xcr0(&mut self, value: u64) {
        self.xcr0.push(value);
    }
    fn host_nmi(&mut self) {
        self.host_nmis += 1;
    }
}

const FIXED: CrFixed = CrFixed {
    cr0_fixed0: 0x8000_0021,
    cr0_fixed1: 0xffff_ffff,
    cr4_fixed0: 0x2000,
    cr4_fixed1: 0x0037_27ff,
};

/// A guest in 32-bit protected mode (paging off) at RIP 0x1000, with `code` there
/// and an exit of `reason` and `qualification` whose instruction is `len` long.
fn env(reason: u32, qualification: u64, len: u64, code: &[u8]) -> FakeEnv {
    let env = FakeEnv::default();
    ept(&env.phys);
    env.phys.write_bytes(0x4000_1000, code);
    let mut env = env;
    for (field, value) in [
        (vmcs::EXIT_REASON, u64::from(reason)),
        (vmcs::EXIT_QUALIFICATION, qualification),
        (vmcs::EXIT_INSTRUCTION_LEN, len),
        (vmcs::GUEST_RIP, 0x1000),
        (vmcs::GUEST_CR0, 0x31),
        (vmcs::CR0_READ_SHADOW, 0x11),
        (vmcs::GUEST_CR4, 0x2000),
        (vmcs::GUEST_CS_ACCESS_RIGHTS, 0xc09b),
    ] {
        env.vmcs.fields.insert(field, value);
    }
    env
}

struct Run {
    exit: AxVmResult<AxVCpuExitReason>,
    regs: GuestRegs,
    access_len: u64,
    event_queued: bool,
    debug: DebugRegs,
}

fn handle(env: &mut FakeEnv, regs: GuestRegs) -> Run {
    handle_with(env, regs, &mut VLapic::new(0))
}

fn handle_with(env: &mut FakeEnv, regs: GuestRegs, lapic: &mut VLapic) -> Run {
    let mut regs = regs;
    let mut debug = DebugRegs::default();
    let mut ctx = ExitCtx {
        env,
        regs: &mut regs,
        eptp: EPTP,
        fixed: FIXED,
        vcpu_id: lapic.id().into(),
        lapic,
        debug: &mut debug,
        xcr0_mask: XCR0_MANAGED,
        access_len: 0,
        event_queued: false,
    };
    let exit = ctx.handle();
    let (access_len, event_queued) = (ctx.access_len, ctx.event_queued);
    Run {
        exit,
        regs,
        access_len,
        event_queued,
        debug,
    }
}

fn regs(values: &[(usize, u64)]) -> GuestRegs {
    let mut regs = GuestRegs::default();
    for &(reg, value) in values {
        regs.set(reg, value);
    }
    regs
}

#[test]
fn port_io_becomes_access_exits_and_string_io_is_refused() {
    let mut out = env(reason::IO_INSTRUCTION, 0x03f8_0000, 1, &[]);
    let run = handle(&mut out, regs(&[(0, 0x1234_5641)]));
    assert_eq!(
        run.exit,
        Ok(AxVCpuExitReason::IoWrite {
            port: 0x3f8.into(),
            width: AccessWidth::Byte,
            data: 0x41
        })
    );
    assert_eq!(run.access_len, 1);
    // The access exit leaves RIP on the instruction.
    assert_eq!(out.vmcs.get(vmcs::GUEST_RIP), 0x1000);
    let mut input = env(reason::IO_INSTRUCTION, 0x0040_0049, 2, &[]);
    assert_eq!(
        handle(&mut input, GuestRegs::default()).exit,
        Ok(AxVCpuExitReason::IoRead {
            port: 0x40.into(),
            width: AccessWidth::Word
        })
    );
    for qualification in [0x03f8_0010, 0x03f8_0030, 0x03f8_0002] {
        let mut string = env(reason::IO_INSTRUCTION, qualification, 2, &[]);
        assert_eq!(
            handle(&mut string, GuestRegs::default()).exit,
            Err(AxVmError::Unsupported)
        );
    }
}

#[test]
fn vmcall_and_hlt_move_past_the_instruction() {
    let mut env1 = env(reason::VMCALL, 0, 3, &[]);
    let values = [(0, 9), (7, 1), (6, 2), (2, 3), (1, 4), (8, 5), (9, 6)];
    assert_eq!(
        handle(&mut env1, regs(&values)).exit,
        Ok(AxVCpuExitReason::Hypercall {
            nr: 9,
            args: [1, 2, 3, 4, 5, 6]
        })
    );
    assert_eq!(env1.vmcs.get(vmcs::GUEST_RIP), 0x1003);
    let mut env2 = env(reason::HLT, 0, 1, &[]);
    env2.vmcs.fields.insert(vmcs::GUEST_INTERRUPTIBILITY, 1); // sti; hlt
    assert_eq!(
        handle(&mut env2, GuestRegs::default()).exit,
        Ok(AxVCpuExitReason::Halt)
    );
    assert_eq!(env2.vmcs.get(vmcs::GUEST_RIP), 0x1001);
    assert_eq!(env2.vmcs.get(vmcs::GUEST_INTERRUPTIBILITY), 0);
}

#[test]
fn cpuid_is_answered_in_place() {
    let mut env = env(reason::CPUID, 0, 2, &[]);
    let run = handle(&mut env, regs(&[(0, 1)]));
    assert_eq!(run.exit, Ok(AxVCpuExitReason::Nothing));
    assert_eq!(run.regs.get(1) & (1 << 5), 0, "VMX hidden");
    assert_ne!(run.regs.get(1) & (1 << 31), 0, "hypervisor bit");
    assert_eq!(run.regs.get(2), 1 | (1 << 9), "FPU kept, local APIC shown");
    assert_eq!(env.vmcs.get(vmcs::GUEST_RIP), 0x1002);
}

#[test]
fn allowed_msrs_are_emulated_and_others_fault() {
    let mut read = env(reason::RDMSR, 0, 2, &[]);
    let run = handle(&mut read, regs(&[(1, u64::from(msr::TSC))]));
    assert_eq!(run.exit, Ok(AxVCpuExitReason::Nothing));
    assert_eq!((run.regs.get(0), run.regs.get(2)), (0x5678_9abc, 0x1234));
    assert_eq!(read.vmcs.get(vmcs::GUEST_RIP), 0x1002);

    let mut write = env(reason::WRMSR, 0, 2, &[]);
    let run = handle(
        &mut write,
        regs(&[(1, u64::from(msr::FS_BASE)), (0, 0x1000), (2, 0xffff_8000)]),
    );
    assert_eq!(run.exit, Ok(AxVCpuExitReason::Nothing));
    assert_eq!(write.vmcs.get(vmcs::GUEST_FS_BASE), 0xffff_8000_0000_1000);
    assert!(!run.event_queued);

    for (kind, index) in [(reason::RDMSR, 0xc000_0082u64), (reason::WRMSR, 0x1b)] {
        let mut bad = env(kind, 0, 2, &[]);
        let run = handle(&mut bad, regs(&[(1, index)]));
        assert_eq!(run.exit, Ok(AxVCpuExitReason::Nothing));
        assert!(run.event_queued);
        assert_eq!(bad.vmcs.get(vmcs::ENTRY_INTR_INFO), 0x8000_0b0d);
        assert_eq!(bad.vmcs.get(vmcs::GUEST_RIP), 0x1000, "not skipped");
    }
}

fn ept_env(qualification: u64, code: &[u8]) -> FakeEnv {
    let mut env = env(reason::EPT_VIOLATION, qualification, 0, code);
    env.vmcs
        .fields
        .insert(vmcs::GUEST_PHYSICAL_ADDR, 0xfec0_0010);
    env
}

pub(crate) const WRITE: u64 = 0x182;
const READ: u64 = 0x181;
const FETCH: u64 = 0x184;

#[test]
fn ept_violations_of_moves_become_mmio() {
    // mov [edi], eax
    let mut store = ept_env(WRITE, &[0x89, 0x07]);
    let run = handle(&mut store, regs(&[(0, 0xdead_beef_0000_0005)]));
    assert_eq!(
        run.exit,
        Ok(AxVCpuExitReason::MmioWrite {
            addr: GuestPhysAddr::from(0xfec0_0010),
            width: AccessWidth::Dword,
            data: 5
        })
    );
    assert_eq!(run.access_len, 2);
    // movzx ecx, byte [eax]
    let mut load = ept_env(READ, &[0x0f, 0xb6, 0x08]);
    assert_eq!(
        handle(&mut load, GuestRegs::default()).exit,
        Ok(AxVCpuExitReason::MmioRead {
            addr: GuestPhysAddr::from(0xfec0_0010),
            width: AccessWidth::Byte,
            reg: 1,
            reg_width: AccessWidth::Dword,
            signed_ext: false
        })
    );
    // mov [esp], esp: the value comes from the VMCS.
    let mut rsp = ept_env(WRITE, &[0x89, 0x24, 0x24]);
    rsp.vmcs.fields.insert(vmcs::GUEST_RSP, 0x7000);
    assert!(matches!(
        handle(&mut rsp, GuestRegs::default()).exit,
        Ok(AxVCpuExitReason::MmioWrite { data: 0x7000, .. })
    ));
    // 64-bit code through 4-level paging: mov qword [rax], 7.
    let mut long = ept_env(WRITE, &[]);
    long.phys.write(0x4000_5000, 0x6000 | 1);
    long.phys.write(0x4000_6000, 0x7000 | 1);
    long.phys.write(0x4000_7000, 0x8000 | 1);
    long.phys.write(0x4000_8000 + 0x10 * 8, 0x9000 | 1);
    long.phys
        .write_bytes(0x4000_9000, &[0x48, 0xc7, 0x00, 0x07, 0, 0, 0]);
    for (field, value) in [
        (vmcs::GUEST_CR0, 0x8000_0031),
        (vmcs::GUEST_CR3, 0x5000),
        (vmcs::GUEST_CR4, 0x2020),
        (vmcs::GUEST_EFER, 0x500),
        (vmcs::GUEST_CS_ACCESS_RIGHTS, 0xa09b),
        (vmcs::GUEST_RIP, 0x1_0000),
    ] {
        long.vmcs.fields.insert(field, value);
    }
    let run = handle(&mut long, GuestRegs::default());
    assert_eq!(
        run.exit,
        Ok(AxVCpuExitReason::MmioWrite {
            addr: GuestPhysAddr::from(0xfec0_0010),
            width: AccessWidth::Qword,
            data: 7
        })
    );
    assert_eq!(run.access_len, 7);
}

/// An EPT violation of `code` at local APIC register `offset`.
pub(crate) fn lapic_env(qualification: u64, offset: u64, code: &[u8]) -> FakeEnv {
    let mut env = ept_env(qualification, code);
    env.vmcs
        .fields
        .insert(vmcs::GUEST_PHYSICAL_ADDR, lapic::APIC_BASE + offset);
    env
}

#[test]
fn the_local_apic_is_answered_in_place() {
    let mut lapic = VLapic::new(1);
    // mov eax, [ebx]: the APIC id, zero-extended; the guest moves on.
    let mut id = lapic_env(READ, lapic::ID, &[0x8b, 0x03]);
    let run = handle_with(&mut id, regs(&[(0, u64::MAX)]), &mut lapic);
    assert_eq!(run.exit, Ok(AxVCpuExitReason::Nothing));
    assert_eq!(run.regs.get(0), 1 << 24);
    assert_eq!(id.vmcs.get(vmcs::GUEST_RIP), 0x1002);
    // mov al, [ebx+3]: a byte load keeps the register's other bits.
    let mut byte = lapic_env(READ, lapic::ID + 3, &[0x8a, 0x43, 0x03]);
    let run = handle_with(&mut byte, regs(&[(0, 0xff00)]), &mut lapic);
    assert_eq!(run.regs.get(0), 0xff01);
    // mov [edi], eax: ICR high, INIT, then start-up with vector 8.
    let mut write = |offset, value| {
        let mut env = lapic_env(WRITE, offset, &[0x89, 0x07]);
        let run = handle_with(&mut env, regs(&[(0, value)]), &mut lapic);
        assert_eq!(env.vmcs.get(vmcs::GUEST_RIP), 0x1002);
        run.exit
    };
    assert_eq!(write(lapic::ICR_HIGH, 0), Ok(AxVCpuExitReason::Nothing));
    assert_eq!(write(lapic::ICR_LOW, 0x4500), Ok(AxVCpuExitReason::Nothing));
    assert_eq!(
        write(lapic::ICR_LOW, 0x4608),
        Ok(AxVCpuExitReason::CpuUp {
            target_cpu: 0,
            entry_point: GuestPhysAddr::from(0x8000),
            arg: 0
        })
    );
    assert_eq!(write(lapic::ICR_LOW, 0x4608), Ok(AxVCpuExitReason::Nothing));
    assert_eq!(write(lapic::EOI, 0), Ok(AxVCpuExitReason::Nothing));
    // Not an MMIO instruction: still a nested page fault.
    let mut other = lapic_env(WRITE, lapic::ICR_LOW, &[0x01, 0x07]);
    assert!(matches!(
        handle_with(&mut other, GuestRegs::default(), &mut lapic).exit,
        Ok(AxVCpuExitReason::NestedPageFault { .. })
    ));
}

#[test]
fn other_ept_violations_are_nested_page_faults() {
    let fault = |access_flags| {
        Ok(AxVCpuExitReason::NestedPageFault {
            addr: GuestPhysAddr::from(0xfec0_0010),
            access_flags,
        })
    };
    let cases: &[(u64, &[u8], MappingFlags)] = &[
        (FETCH, &[0x89, 0x07], MappingFlags::EXECUTE),
        (0x82, &[0x89, 0x07], MappingFlags::WRITE), // during the guest's page walk
        (0x02, &[0x89, 0x07], MappingFlags::WRITE), // no linear address
        (WRITE, &[0x01, 0x07], MappingFlags::WRITE), // add [edi], eax
        (WRITE, &[0x88, 0x27], MappingFlags::WRITE), // mov [edi], ah
        (READ, &[0x89, 0x07], MappingFlags::READ),  // a store that reads?
        (WRITE, &[0xf3, 0xaa], MappingFlags::WRITE), // rep stosb
    ];
    for &(qualification, code, flags) in cases {
        let mut env = ept_env(qualification, code);
        assert_eq!(
            handle(&mut env, GuestRegs::default()).exit,
            fault(flags),
            "{code:x?}"
        );
    }
    // The code page itself is not readable: the fetch fails.
    let mut env = ept_env(WRITE, &[0x89, 0x07]);
    env.vmcs.fields.insert(vmcs::GUEST_RIP, 0x100_0000);
    assert_eq!(
        handle(&mut env, GuestRegs::default()).exit,
        fault(MappingFlags::WRITE)
    );
}

#[test]
fn an_event_interrupted_by_an_exit_is_injected_again() {
    let mut env = ept_env(WRITE, &[0x89, 0x07]);
    env.vmcs
        .fields
        .insert(vmcs::IDT_VECTORING_INFO, 0x8000_1b0e); // #PF, error code, bit 12
    env.vmcs.fields.insert(vmcs::IDT_VECTORING_ERROR_CODE, 2);
    let run = handle(&mut env, GuestRegs::default());
    assert!(matches!(
        run.exit,
        Ok(AxVCpuExitReason::NestedPageFault { .. })
    ));
    assert!(run.event_queued);
    assert_eq!(env.vmcs.get(vmcs::ENTRY_INTR_INFO), 0x8000_0b0e);
    assert_eq!(env.vmcs.get(vmcs::ENTRY_EXCEPTION_ERROR_CODE), 2);
    // A software interrupt also needs its instruction length.
    let mut soft = env_with_vectoring(0x8000_0480, 2);
    let run = handle(&mut soft, GuestRegs::default());
    assert!(run.event_queued);
    assert_eq!(soft.vmcs.get(vmcs::ENTRY_INSTRUCTION_LEN), 2);
}

fn env_with_vectoring(info: u64, len: u64) -> FakeEnv {
    let mut env = env(reason::EPT_VIOLATION, FETCH, len, &[]);
    env.vmcs.fields.insert(vmcs::IDT_VECTORING_INFO, info);
    env
}

#[test]
fn cr0_and_cr4_writes_keep_the_fixed_bits_and_long_mode_consistent() {
    // mov cr0, eax (eax = PE | ET: NE cleared by the guest).
    let mut env1 = env(reason::CR_ACCESS, 0x0000, 3, &[]);
    let run = handle(&mut env1, regs(&[(0, 0x11)]));
    assert_eq!(run.exit, Ok(AxVCpuExitReason::Nothing));
    assert_eq!(env1.vmcs.get(vmcs::CR0_READ_SHADOW), 0x11);
    assert_eq!(env1.vmcs.get(vmcs::GUEST_CR0), 0x11 | CR0_NE);
    assert_eq!(env1.vmcs.get(vmcs::GUEST_RIP), 0x1003);
    // Paging on with EFER.LME: LMA and the IA-32e entry control follow.
    let mut env2 = env(reason::CR_ACCESS, 0x0300, 3, &[]);
    env2.vmcs.fields.insert(vmcs::GUEST_EFER, EFER_LME);
    env2.vmcs.fields.insert(vmcs::GUEST_CR4, 0x2000 | CR4_PAE);
    handle(&mut env2, regs(&[(3, CR0_PG | 0x11)])).exit.unwrap();
    assert_eq!(env2.vmcs.get(vmcs::GUEST_EFER), EFER_LME | EFER_LMA);
    assert_ne!(
        env2.vmcs.get(vmcs::ENTRY_CONTROLS) & u64::from(ENTRY_IA32E_GUEST),
        0
    );
    assert_eq!(env2.vmcs.get(vmcs::GUEST_CR0), CR0_PG | 0x31);
    // ...and off again.
    env2.vmcs.fields.insert(vmcs::GUEST_CR0, CR0_PG | 0x31);
    handle(&mut env2, regs(&[(3, 0x11)])).exit.unwrap();
    assert_eq!(env2.vmcs.get(vmcs::GUEST_EFER), EFER_LME);
    assert_eq!(
        env2.vmcs.get(vmcs::ENTRY_CONTROLS) & u64::from(ENTRY_IA32E_GUEST),
        0
    );
    // Paging on with PAE outside long mode loads the PDPTEs (guest CR3 0x2000).
    let mut env3 = env(reason::CR_ACCESS, 0x0000, 3, &[]);
    env3.vmcs.fields.insert(vmcs::GUEST_CR4, 0x2000 | CR4_PAE);
    env3.vmcs.fields.insert(vmcs::GUEST_CR3, 0x2000);
    for (i, entry) in [0x4001, 0x5001, 0, 0].into_iter().enumerate() {
        env3.phys.write(0x4000_2000 + 8 * i as u64, entry);
    }
    handle(&mut env3, regs(&[(0, CR0_PG | 0x11)])).exit.unwrap();
    assert_eq!(env3.vmcs.get(vmcs::GUEST_PDPTE0 + 2), 0x5001);
    // CR4.VMXE, PG without PE, and PG with LME but no PAE raise #GP.
    for (qualification, value) in [(0x0004, 0x2000u64), (0x0000, CR0_PG), (0x0000, 1 << 32)] {
        let mut bad = env(reason::CR_ACCESS, qualification, 3, &[]);
        let run = handle(&mut bad, regs(&[(0, value)]));
        assert!(run.event_queued, "{value:#x}");
        assert_eq!(bad.vmcs.get(vmcs::GUEST_RIP), 0x1000);
    }
    // mov cr4, eax with PAE.
    let mut env4 = env(reason::CR_ACCESS, 0x0004, 3, &[]);
    handle(&mut env4, regs(&[(0, CR4_PAE)])).exit.unwrap();
    assert_eq!(env4.vmcs.get(vmcs::GUEST_CR4), 0x2020);
    assert_eq!(env4.vmcs.get(vmcs::CR4_READ_SHADOW), 0x20);
    // CR3 moves (on CPUs that force CR3 exiting); CLTS and LMSW are errors.
    let mut env5 = env(reason::CR_ACCESS, 0x0413, 3, &[]);
    env5.vmcs.fields.insert(vmcs::GUEST_CR3, 0x9000);
    handle(&mut env5, GuestRegs::default()).exit.unwrap();
    assert_eq!(env5.vmcs.get(vmcs::GUEST_RSP), 0x9000);
    for qualification in [0x20, 0x30, 0x08] {
        let mut bad = env(reason::CR_ACCESS, qualification, 3, &[]);
        assert_eq!(
            handle(&mut bad, GuestRegs::default()).exit,
            Err(AxVmError::Unsupported)
        );
    }
}

#[test]
fn interrupts_shutdown_entry_failures_and_unknown_exits() {
    let mut irq = env(reason::EXTERNAL_INTERRUPT, 0, 0, &[]);
    irq.vmcs.fields.insert(vmcs::EXIT_INTR_INFO, 0x8000_0030);
    assert_eq!(
        handle(&mut irq, GuestRegs::default()).exit,
        Ok(AxVCpuExitReason::ExternalInterrupt { vector: 0x30 })
    );
    let mut lost = env(reason::EXTERNAL_INTERRUPT, 0, 0, &[]);
    assert_eq!(
        handle(&mut lost, GuestRegs::default()).exit,
        Err(AxVmError::BadState)
    );
    let mut triple = env(reason::TRIPLE_FAULT, 0, 0, &[]);
    assert_eq!(
        handle(&mut triple, GuestRegs::default()).exit,
        Ok(AxVCpuExitReason::SystemDown)
    );
    let mut window = env(reason::INTERRUPT_WINDOW, 0, 0, &[]);
    assert_eq!(
        handle(&mut window, GuestRegs::default()).exit,
        Ok(AxVCpuExitReason::Nothing)
    );
    let mut failed = env(reason::ENTRY_FAILURE | 33, 0, 0, &[]);
    assert_eq!(
        handle(&mut failed, GuestRegs::default()).exit,
        Ok(AxVCpuExitReason::FailEntry {
            reason: 0x8000_0021
        })
    );
    for basic in [
        reason::INIT,
        reason::SIPI,
        57,
        reason::EPT_MISCONFIG,
        0xffff,
    ] {
        let mut other = env(basic, 0, 0, &[]);
        assert_eq!(
            handle(&mut other, GuestRegs::default()).exit,
            Err(AxVmError::Unsupported)
        );
    }
    assert_eq!(reason_name(48), "EPT violation");
}

#[test]
fn random_exits_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let reason = (next() % 70) as u32
            | if next() % 16 == 0 {
                reason::ENTRY_FAILURE
            } else {
                0
            };
        let code = next().to_le_bytes();
        let mut env = env(reason, next(), next() % 16, &code);
        for field in [
            vmcs::GUEST_CR0,
            vmcs::GUEST_CR3,
            vmcs::GUEST_CR4,
            vmcs::GUEST_EFER,
            vmcs::GUEST_CS_ACCESS_RIGHTS,
            vmcs::GUEST_CS_BASE,
            vmcs::GUEST_RIP,
            vmcs::GUEST_PHYSICAL_ADDR,
            vmcs::IDT_VECTORING_INFO,
            vmcs::EXIT_INTR_INFO,
        ] {
            if next() % 3 == 0 {
                env.vmcs.fields.insert(field, next());
            }
        }
        if next() % 4 == 0 {
            let gpa = lapic::APIC_BASE + next() % lapic::APIC_SIZE;
            env.vmcs.fields.insert(vmcs::GUEST_PHYSICAL_ADDR, gpa);
        }
        let regs = GuestRegs {
            gpr: core::array::from_fn(|_| next()),
        };
        let _ = handle(&mut env, regs);
    }
}

fn exit_env(reason: u32, qualification: u64, len: u64, code: &[u8]) -> FakeEnv {
    env(reason, qualification, len, code)
}

/// Guest SS access rights with DPL 3 (a user-mode guest).
const SS_USER: u64 = 0xf3;

#[test]
fn a_vmcall_from_user_mode_is_an_invalid_opcode_not_a_hypercall() {
    let mut env = exit_env(reason::VMCALL, 0, 3, &[0x0f, 0x01, 0xc1]);
    env.vmcs
        .fields
        .insert(vmcs::GUEST_SS_ACCESS_RIGHTS, SS_USER);
    let run = handle(&mut env, GuestRegs::default());
    assert_eq!(run.exit, Ok(AxVCpuExitReason::Nothing));
    assert!(run.event_queued);
    assert_eq!(
        env.vmcs.get(vmcs::ENTRY_INTR_INFO),
        u64::from(qual::hardware_exception(VECTOR_UD, false))
    );
    assert_eq!(env.vmcs.get(vmcs::GUEST_RIP), 0x1000);
    // From the kernel it is a hypercall.
    let mut env = exit_env(reason::VMCALL, 0, 3, &[0x0f, 0x01, 0xc1]);
    env.vmcs.fields.insert(vmcs::GUEST_SS_ACCESS_RIGHTS, 0x93);
    let run = handle(&mut env, GuestRegs::default());
    assert!(matches!(run.exit, Ok(AxVCpuExitReason::Hypercall { .. })));
}

#[test]
fn debug_registers_are_the_guests_own_never_the_cpus() {
    // mov dr7, rax (write, register 0) with rax = 0x1 | 0x400.
    let mut env = exit_env(reason::MOV_DR, 7, 3, &[0x0f, 0x23, 0xf8]);
    let mut regs = GuestRegs::default();
    regs.set(0, 0x401);
    let run = handle(&mut env, regs);
    assert_eq!(run.exit, Ok(AxVCpuExitReason::Nothing));
    assert_eq!(run.debug.dr7, 0x401);
    // The VMCS DR7 (what the CPU uses) is untouched.
    assert_eq!(env.vmcs.get(vmcs::GUEST_DR7), 0);
    assert_eq!(env.vmcs.get(vmcs::GUEST_RIP), 0x1003);
    // mov rbx, dr6 (read into register 3).
    let mut env = exit_env(
        reason::MOV_DR,
        (1 << 4) | (3 << 8) | 6,
        3,
        &[0x0f, 0x21, 0xf3],
    );
    let run = handle(&mut env, GuestRegs::default());
    assert_eq!(run.regs.get(3), 0xffff_0ff0);
    assert_eq!(MovDrQual((1 << 4) | (3 << 8) | 6).gpr(), 3);
}

#[test]
fn xsetbv_is_checked_then_applied() {
    let set = |ecx: u64, value: u64| {
        let mut env = exit_env(reason::XSETBV, 0, 3, &[0x0f, 0x01, 0xd1]);
        let mut regs = GuestRegs::default();
        regs.set(0, value & 0xffff_ffff);
        regs.set(2, value >> 32);
        regs.set(1, ecx);
        let run = handle(&mut env, regs);
        assert_eq!(run.exit, Ok(AxVCpuExitReason::Nothing));
        (env.xcr0, run.event_queued)
    };
    assert_eq!(
        set(0, XCR0_X87 | XCR0_SSE | XCR0_AVX),
        (vec![XCR0_X87 | XCR0_SSE | XCR0_AVX], false)
    );
    assert_eq!(set(0, XCR0_AVX), (vec![], true));
    assert_eq!(set(0, XCR0_X87 | (1 << 9)), (vec![], true));
    assert_eq!(set(1, XCR0_X87), (vec![], true));
}

#[test]
fn nmis_go_to_the_host_and_the_guest_resumes() {
    let mut env = exit_env(reason::EXCEPTION_OR_NMI, 0, 0, &[]);
    env.vmcs.fields.insert(vmcs::EXIT_INTR_INFO, 0x8000_0202);
    let run = handle(&mut env, GuestRegs::default());
    assert_eq!(run.exit, Ok(AxVCpuExitReason::Nothing));
    assert_eq!(env.host_nmis, 1);
    // A hardware exception cannot exit with an empty bitmap: an error.
    let mut env = exit_env(reason::EXCEPTION_OR_NMI, 0, 0, &[]);
    env.vmcs.fields.insert(vmcs::EXIT_INTR_INFO, 0x8000_030e);
    assert_eq!(
        handle(&mut env, GuestRegs::default()).exit,
        Err(AxVmError::BadState)
    );
    assert_eq!(env.host_nmis, 0);
}
