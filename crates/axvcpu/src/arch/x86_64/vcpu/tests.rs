//! The vCPU's set-up, register and injection logic (without VMX hardware).

use axvm_types::{AccessWidth, HostPhysAddr};

use super::*;
use crate::{
    AxVCpu, VCpuState,
    arch::{test_hal::TestHal, x86_64::context::vmcs::FakeVmcs},
};

type VCpu = X86VCpu<TestHal<0>>;

fn paging(vmid: u16) -> NestedPagingConfig {
    NestedPagingConfig {
        root: HostPhysAddr::from(0x10_0000),
        levels: 4,
        gpa_bits: 48,
        vmid,
    }
}

fn vcpu(mode: X86StartMode, entry: usize) -> VCpu {
    let mut vcpu = VCpu::new(1, 0, X86CreateConfig).unwrap();
    vcpu.set_entry(GuestPhysAddr::from(entry)).unwrap();
    vcpu.set_ept_root(paging(0)).unwrap();
    vcpu.setup(X86SetupConfig { start_mode: mode }).unwrap();
    vcpu
}

#[test]
fn setup_validates_paging_and_the_start_mode() {
    let mut fresh = VCpu::new(1, 0, X86CreateConfig).unwrap();
    assert_eq!(
        fresh.setup(X86SetupConfig::default()),
        Err(AxVmError::BadState)
    );
    let three = NestedPagingConfig {
        levels: 3,
        ..paging(1)
    };
    assert_eq!(fresh.set_ept_root(three), Err(AxVmError::InvalidInput));
    fresh.set_entry(GuestPhysAddr::from(0x10_0000)).unwrap();
    fresh.set_ept_root(paging(5)).unwrap();
    assert_eq!(fresh.vpid(), 5);
    assert_eq!(fresh.eptp(), Some(0x10_001e));
    let real = X86SetupConfig {
        start_mode: X86StartMode::Real,
    };
    assert_eq!(fresh.setup(real), Err(AxVmError::InvalidInput));
    fresh.setup(X86SetupConfig::default()).unwrap();
    assert_eq!(fresh.start_mode(), X86StartMode::Protected32);
    let mut real = vcpu(X86StartMode::Real, 0x7c00);
    assert_eq!(real.vpid(), 1, "VMID 0 uses VPID 1");
    assert_eq!(
        real.set_entry(GuestPhysAddr::from(0x20_0000)),
        Err(AxVmError::InvalidInput)
    );
    real.set_entry(GuestPhysAddr::from(0x9_0000)).unwrap();
}

#[test]
fn off_bare_metal_the_hardware_operations_are_unsupported() {
    let mut vcpu: AxVCpu<VCpu> = AxVCpu::new(1, 0, 0, None, X86CreateConfig).unwrap();
    vcpu.setup(
        GuestPhysAddr::from(0x10_0000),
        paging(1),
        X86SetupConfig::default(),
    )
    .unwrap();
    assert_eq!(vcpu.state(), VCpuState::Free);
    assert_eq!(vcpu.bind(), Err(AxVmError::Unsupported));
    assert!(crate::arch::test_hal::this_cpu_is_free());
    assert!(!vcpu.arch().is_bound());
    assert_eq!(vcpu.arch_mut().run(), Err(AxVmError::BadState));
    assert_eq!(vcpu.arch_mut().unbind(), Err(AxVmError::BadState));
    assert_eq!(
        hw::hardware_enable::<TestHal<0>>(),
        Err(AxVmError::Unsupported)
    );
    assert_eq!(
        hw::hardware_disable::<TestHal<0>>(),
        Err(AxVmError::Unsupported)
    );
}

#[test]
fn loads_keep_or_extend_like_x86() {
    let mut vcpu: AxVCpu<VCpu> = AxVCpu::new(1, 0, 0, None, X86CreateConfig).unwrap();
    vcpu.setup(
        GuestPhysAddr::from(0x10_0000),
        paging(1),
        X86SetupConfig::default(),
    )
    .unwrap();
    vcpu.set_gpr(0, 0x1122_3344_5566_7788).unwrap();
    // in al, dx
    let io = AxVCpuExitReason::IoRead {
        port: 0x60.into(),
        width: AccessWidth::Byte,
    };
    vcpu.complete_read(&io, 0x1ab).unwrap();
    assert_eq!(vcpu.arch().regs().get(0), 0x1122_3344_5566_77ab);
    // mov cx, [mem]; then movsx ecx, byte [mem] (zero-extends above bit 31).
    vcpu.set_gpr(1, u64::MAX).unwrap();
    let word = AxVCpuExitReason::MmioRead {
        addr: GuestPhysAddr::from(0xfec0_0000),
        width: AccessWidth::Word,
        reg: 1,
        reg_width: AccessWidth::Word,
        signed_ext: false,
    };
    vcpu.complete_read(&word, 0x1234).unwrap();
    assert_eq!(vcpu.arch().regs().get(1), 0xffff_ffff_ffff_1234);
    let signed = AxVCpuExitReason::MmioRead {
        addr: GuestPhysAddr::from(0xfec0_0000),
        width: AccessWidth::Byte,
        reg: 1,
        reg_width: AccessWidth::Dword,
        signed_ext: true,
    };
    vcpu.complete_read(&signed, 0x80).unwrap();
    assert_eq!(vcpu.arch().regs().get(1), 0xffff_ff80);
    // RSP waits for the VMCS while unbound.
    vcpu.set_gpr(4, 0x8000).unwrap();
    assert_eq!(vcpu.arch().pending_rsp, Some(0x8000));
    vcpu.set_return_value(3).unwrap();
    assert_eq!(vcpu.arch().regs().get(0), 3);
}

#[test]
fn interrupts_wait_for_the_guest_to_accept_them() {
    let mut vcpu = vcpu(X86StartMode::Protected32, 0x10_0000);
    assert_eq!(vcpu.inject_interrupt(31), Err(AxVmError::InvalidInput));
    assert_eq!(vcpu.inject_interrupt(256), Err(AxVmError::InvalidInput));
    vcpu.inject_interrupt(0x20).unwrap();
    vcpu.inject_interrupt(0xf0).unwrap();
    assert!(vcpu.is_interrupt_pending(0x20));
    assert_eq!(highest_pending(&vcpu.pending_irqs), Some(0xf0));
    vcpu.controls = Some(Controls::new(&controls::tests::caps()).unwrap());
    let mut vmcs = FakeVmcs::default();
    // Interrupts disabled: ask for an interrupt window.
    vmcs.write(vmcs::GUEST_RFLAGS, 2).unwrap();
    vcpu.prepare_injection(&mut vmcs).unwrap();
    assert_eq!(vmcs.get(vmcs::ENTRY_INTR_INFO), 0);
    assert_ne!(
        vmcs.get(vmcs::PROC_CONTROLS) & u64::from(PROC_INTERRUPT_WINDOW_EXITING),
        0
    );
    // Enabled: the highest vector goes first, the window stays open for the other.
    vmcs.write(vmcs::GUEST_RFLAGS, 0x202).unwrap();
    vcpu.prepare_injection(&mut vmcs).unwrap();
    assert_eq!(vmcs.get(vmcs::ENTRY_INTR_INFO), 0x8000_00f0);
    assert!(!vcpu.is_interrupt_pending(0xf0));
    assert!(vcpu.window_exiting);
    vcpu.prepare_injection(&mut vmcs).unwrap();
    assert_eq!(vmcs.get(vmcs::ENTRY_INTR_INFO), 0x8000_0020);
    assert!(!vcpu.window_exiting);
    assert_eq!(
        vmcs.get(vmcs::PROC_CONTROLS) & u64::from(PROC_INTERRUPT_WINDOW_EXITING),
        0
    );
    // An event queued by the exit handler goes first.
    vcpu.inject_interrupt(0x21).unwrap();
    vcpu.event_queued = true;
    vmcs.write(vmcs::ENTRY_INTR_INFO, 0x8000_0b0d).unwrap();
    vcpu.prepare_injection(&mut vmcs).unwrap();
    assert_eq!(vmcs.get(vmcs::ENTRY_INTR_INFO), 0x8000_0b0d);
    assert!(vcpu.window_exiting);
}

#[test]
fn the_vmcs_is_filled_from_controls_host_and_start_state() {
    let controls = Controls::new(&controls::tests::caps()).unwrap();
    let fixed = CrFixed {
        cr0_fixed0: 0x8000_0021,
        cr0_fixed1: 0xffff_ffff,
        cr4_fixed0: 0x2000,
        cr4_fixed1: 0x0037_27ff,
    };
    let mut vmcs = FakeVmcs::default();
    write_controls(&mut vmcs, &controls, &fixed).unwrap();
    assert_eq!(vmcs.get(vmcs::CR0_GUEST_HOST_MASK), 0x20);
    assert_eq!(vmcs.get(vmcs::PIN_CONTROLS), u64::from(controls.pin));
    let host = HostState {
        cs: 0x08,
        tr: 0x28,
        gdtr_base: 0xffff_8000_0000_1000,
        ..HostState::default()
    };
    write_host_state(&mut vmcs, &host, 0x4242).unwrap();
    assert_eq!(vmcs.get(vmcs::HOST_RIP), 0x4242);
    assert_eq!(vmcs.get(vmcs::HOST_TR_SELECTOR), 0x28);
    assert_eq!(vmcs.get(vmcs::HOST_GDTR_BASE), 0xffff_8000_0000_1000);
    let mut vcpu = vcpu(X86StartMode::Long64 { cr3: 0x3000 }, 0x20_0000);
    vcpu.fixed = fixed;
    vcpu.set_gpr(4, 0x9000);
    vcpu.apply_pending(&mut vmcs).unwrap();
    assert_eq!(vmcs.get(vmcs::GUEST_RIP), 0x20_0000);
    assert_eq!(vmcs.get(vmcs::GUEST_CR3), 0x3000);
    assert_eq!(vmcs.get(vmcs::GUEST_RSP), 0x9000);
    assert!(!vcpu.reset_pending);
}

#[test]
fn a_startup_ipi_is_no_call_and_gets_no_return_value() {
    use crate::arch::x86_64::{
        entry::ENTRY_EXITED,
        exit::{
            lapic,
            tests::{WRITE, lapic_env},
        },
        paging::tests::EPTP,
    };
    let mut vcpu = vcpu(X86StartMode::Protected32, 0x10_0000);
    vcpu.eptp = Some(EPTP);
    // mov [edi], eax with EAX = the ICR value: INIT, then start-up at 0x8000.
    let exit = |vcpu: &mut VCpu, offset, value| {
        vcpu.regs_mut().set(0, value);
        let mut env = lapic_env(WRITE, offset, &[0x89, 0x07]);
        vcpu.after_entry(&mut env, ENTRY_EXITED)
    };
    exit(&mut vcpu, lapic::ICR_HIGH, 1 << 24).unwrap();
    exit(&mut vcpu, lapic::ICR_LOW, 0x4500).unwrap();
    vcpu.set_return_value(7);
    assert_eq!(
        vcpu.regs().get(0),
        7,
        "an ordinary exit takes a return value"
    );
    assert!(matches!(
        exit(&mut vcpu, lapic::ICR_LOW, 0x4608),
        Ok(AxVCpuExitReason::CpuUp { target_cpu: 1, .. })
    ));
    vcpu.set_return_value(7);
    assert_eq!(vcpu.regs().get(0), 0x4608, "RAX is the guest's");
}
