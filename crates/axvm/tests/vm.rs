//! `AxVM` over a heap-arena host and scripted vCPUs: memory set-up, image loading,
//! the run loop's emulation, faults that stop only their VM, and clean teardown.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod common;

use axaddrspace::{
    AddrSpace, AxMmHal, Stage2,
    testing::{ArenaHal, RecordingTlb},
};
use axdevice::AxVmDevices;
use axvcpu::{
    AxVCpuExitReason, ExitKind,
    scripted::{ScriptedEvent, ScriptedVCpu},
};
use axvm::{AxVMConfig, GuestFault, VCpuConfigs, VMState};
use axvm_types::{AccessWidth, Arch, AxVmError, GuestPhysAddr, HostPhysAddr, MappingFlags};
use axvmconfig::AxVMCrateConfig;
use common::{TestHal, Vm, vm_for, vm_with};

const CONFIG: &str = r#"
[base]
id = 0
name = "test"
cpu_num = 2

[kernel]
entry_point = 0x4008_0000
kernel_path = "k.bin"
kernel_load_addr = 0x4008_0000
dtb_load_addr = 0x4000_0000
memory_regions = [
    [0x4000_0000, 0x40_0000, 0x7, 0],
    [0x4800_0000, 0x1000, 0x1, 0],
]

[devices]
emu_devices = [["uart", 0x0900_0000, 0x1000, 33, 0x2, []]]
"#;

fn uart_write(byte: u8) -> AxVCpuExitReason {
    AxVCpuExitReason::MmioWrite {
        addr: GuestPhysAddr::from(0x0900_0000),
        width: AccessWidth::Dword,
        data: u64::from(byte),
    }
}

#[test]
fn the_run_loop_emulates_devices_and_faults_in_ram() {
    let flag_read = AxVCpuExitReason::MmioRead {
        addr: GuestPhysAddr::from(0x0900_0018),
        width: AccessWidth::Dword,
        reg: 2,
        reg_width: AccessWidth::Qword,
        signed_ext: false,
    };
    let ram_fault = AxVCpuExitReason::NestedPageFault {
        addr: GuestPhysAddr::from(0x4030_0000),
        access_flags: MappingFlags::WRITE,
    };
    let hypercall = AxVCpuExitReason::Hypercall {
        nr: 7,
        args: [1, 2, 3, 4, 5, 6],
    };
    let script = vec![
        Ok(uart_write(b'H')),
        Ok(uart_write(b'i')),
        Ok(flag_read),
        Ok(ram_fault),
        Ok(hypercall),
    ];
    let (vm, line) = vm_with(CONFIG, vec![script, Vec::new()]);
    assert_eq!(vm.state(), VMState::Ready);
    assert_eq!(vm.run_vcpu(0), Err(AxVmError::BadState));
    vm.boot().unwrap();
    assert_eq!(vm.run_vcpu(0), Ok(hypercall));
    assert_eq!(*line.0.lock().unwrap(), b"Hi");
    assert_eq!(vm.exit_count(ExitKind::MmioWrite), 2);
    assert_eq!(vm.exit_count(ExitKind::MmioRead), 1);
    assert_eq!(vm.exit_count(ExitKind::NestedPageFault), 1);
    assert_eq!(vm.exit_count(ExitKind::Hypercall), 1);
    // The faulted-in RAM is usable and zeroed.
    let mut word = [0xffu8; 8];
    vm.read_guest(GuestPhysAddr::from(0x4030_0000), &mut word)
        .unwrap();
    assert_eq!(word, [0; 8]);
    let vcpu = vm.vcpu(0).unwrap();
    let events = &vcpu.arch().events;
    // Boot registers: x0 = DTB address, x1-x3 = 0; then bind; then the completions.
    assert!(events.contains(&ScriptedEvent::Gpr(0, 0x4000_0000)));
    let tail: Vec<_> = events
        .iter()
        .skip_while(|e| **e != ScriptedEvent::Bind)
        .copied()
        .collect();
    assert_eq!(
        tail,
        [
            ScriptedEvent::Bind,
            ScriptedEvent::Skip,
            ScriptedEvent::Skip,
            ScriptedEvent::Gpr(2, 0x90),
            ScriptedEvent::Skip,
        ]
    );
}

#[test]
fn images_load_into_lazy_ram() {
    let (vm, _) = vm_with(CONFIG, vec![Vec::new(), Vec::new()]);
    let image: Vec<u8> = (0..0x3000u32).map(|i| i as u8).collect();
    vm.load_kernel_image(&image).unwrap();
    vm.load_dtb(b"\xd0\x0d\xfe\xed").unwrap();
    let mut back = vec![0; image.len()];
    vm.read_guest(GuestPhysAddr::from(0x4008_0000), &mut back)
        .unwrap();
    assert_eq!(back, image);
    // Past the end of RAM is refused, not truncated.
    let too_big = vec![0u8; 0x40_0000];
    assert_eq!(vm.load_kernel_image(&too_big), Err(AxVmError::BadAddress));
    assert_eq!(vm.load_ramdisk(b"x"), Err(AxVmError::BadState));
}

const MULTIBOOT: &str = r#"
[base]
id = 3
name = "multiboot"
cpu_num = 1

[kernel]
entry_point = 0x10_0000
kernel_path = "k.bin"
kernel_load_addr = 0x10_0000
boot_protocol = "multiboot"
memory_regions = [[0x0, 0x100_0000, 0x7, 0]]
"#;

#[test]
fn a_multiboot_vm_gets_its_hand_off_at_boot() {
    let (vm, _) = vm_for(MULTIBOOT, Arch::X86_64, vec![Vec::new()]);
    vm.load_kernel_image(&[0x90; 0x100]).unwrap();
    vm.boot().unwrap();
    let mut info = [0u8; 12];
    vm.read_guest(GuestPhysAddr::from(0xf_f000), &mut info)
        .unwrap();
    let word = |i: usize| u32::from_le_bytes(info[i..i + 4].try_into().unwrap());
    assert_eq!((word(0) & 1, word(4), word(8)), (1, 640, 15 * 1024));
    let vcpu = vm.vcpu(0).unwrap();
    let events = &vcpu.arch().events;
    assert!(events.contains(&ScriptedEvent::Gpr(0, 0x2bad_b002)));
    assert!(events.contains(&ScriptedEvent::Gpr(3, 0xf_f000)));
    // Another architecture, or another protocol, gets no hand-off.
    let (aarch64, _) = vm_for(MULTIBOOT, Arch::Aarch64, vec![Vec::new()]);
    aarch64.boot().unwrap();
    assert!(
        aarch64
            .vcpu(0)
            .unwrap()
            .arch()
            .events
            .iter()
            .all(|e| *e != ScriptedEvent::Gpr(3, 0xf_f000))
    );
}

#[test]
fn a_multiboot_vm_without_room_for_its_info_does_not_boot() {
    let config = MULTIBOOT.replace("[0x0, 0x100_0000", "[0x10_0000, 0x100_0000");
    let (vm, _) = vm_for(&config, Arch::X86_64, vec![Vec::new()]);
    assert_eq!(vm.boot(), Err(AxVmError::NoMemory));
    assert_eq!(vm.state(), VMState::Ready);
}

#[test]
fn an_unmapped_access_stops_only_that_vm() {
    let read = AxVCpuExitReason::MmioRead {
        addr: GuestPhysAddr::from(0x2000_0000),
        width: AccessWidth::Word,
        reg: 0,
        reg_width: AccessWidth::Qword,
        signed_ext: false,
    };
    let (bad, _) = vm_with(CONFIG, vec![vec![Ok(read)], Vec::new()]);
    let (good, line) = vm_with(CONFIG, vec![vec![Ok(uart_write(b'!'))], Vec::new()]);
    bad.boot().unwrap();
    good.boot().unwrap();
    assert_eq!(bad.run_vcpu(0), Err(AxVmError::PermissionDenied));
    assert_eq!(
        bad.fault(),
        Some(GuestFault::Unmapped {
            addr: GuestPhysAddr::from(0x2000_0000),
            access: MappingFlags::READ
        })
    );
    assert_eq!(bad.state(), VMState::Stopped);
    assert_eq!(bad.run_vcpu(1), Err(AxVmError::BadState));
    // The other VM runs to its power-off.
    assert_eq!(good.run_vcpu(0), Ok(AxVCpuExitReason::SystemDown));
    assert_eq!(good.state(), VMState::Stopped);
    assert_eq!(good.fault(), None);
    assert_eq!(*line.0.lock().unwrap(), b"!");
}

#[test]
fn a_write_to_read_only_ram_is_forbidden() {
    let write = AxVCpuExitReason::MmioWrite {
        addr: GuestPhysAddr::from(0x4800_0010),
        width: AccessWidth::Dword,
        data: 0xbad,
    };
    let read = AxVCpuExitReason::NestedPageFault {
        addr: GuestPhysAddr::from(0x4800_0000),
        access_flags: MappingFlags::READ,
    };
    let (vm, _) = vm_with(CONFIG, vec![vec![Ok(read), Ok(write)], Vec::new()]);
    vm.boot().unwrap();
    assert_eq!(vm.run_vcpu(0), Err(AxVmError::PermissionDenied));
    assert_eq!(
        vm.fault(),
        Some(GuestFault::Forbidden {
            addr: GuestPhysAddr::from(0x4800_0010),
            access: MappingFlags::WRITE
        })
    );
}

#[test]
fn a_write_to_read_only_ram_not_yet_touched_is_forbidden_too() {
    let write = AxVCpuExitReason::MmioWrite {
        addr: GuestPhysAddr::from(0x4800_0000),
        width: AccessWidth::Dword,
        data: 0xbad,
    };
    let (vm, _) = vm_with(CONFIG, vec![vec![Ok(write)], Vec::new()]);
    vm.boot().unwrap();
    assert_eq!(vm.run_vcpu(0), Err(AxVmError::PermissionDenied));
    assert!(
        matches!(vm.fault(), Some(GuestFault::Forbidden { .. })),
        "{:?}",
        vm.fault()
    );
}

#[test]
fn a_backend_error_is_an_undecodable_fault() {
    let (vm, _) = vm_with(CONFIG, vec![vec![Err(AxVmError::Unsupported)], Vec::new()]);
    vm.boot().unwrap();
    assert_eq!(vm.run_vcpu(0), Err(AxVmError::PermissionDenied));
    assert_eq!(
        vm.fault(),
        Some(GuestFault::Undecodable(AxVmError::Unsupported))
    );
}

#[test]
fn running_a_vcpu_bound_to_another_cpu_is_the_hosts_error_not_a_fault() {
    let (vm, _) = vm_with(CONFIG, vec![vec![Ok(AxVCpuExitReason::Halt)], Vec::new()]);
    vm.boot().unwrap();
    vm.vcpu(0).unwrap().bind().unwrap();
    // The caller pretends to be on physical CPU 1 now.
    vm.vcpu(0).unwrap().arch_mut().current_cpu = 1;
    assert_eq!(vm.run_vcpu(0), Err(AxVmError::BadState));
    assert_eq!(vm.state(), VMState::Running);
    assert_eq!(vm.fault(), None);
    assert_eq!(vm.vcpu(0).unwrap().arch().runs, 0);
    vm.vcpu(0).unwrap().arch_mut().current_cpu = 0;
    assert_eq!(vm.run_vcpu(0), Ok(AxVCpuExitReason::Halt));
}

#[test]
fn a_vm_can_be_shared_between_cpus() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Vm>();
}

#[test]
fn the_vcpu_count_must_match_the_config() {
    let crate_config = AxVMCrateConfig::from_toml(CONFIG).unwrap();
    let config = AxVMConfig::new(crate_config, Arch::Aarch64).unwrap();
    let space = AddrSpace::with_format(
        Stage2::default(),
        RecordingTlb::default(),
        0.into(),
        1 << 40,
    )
    .unwrap();
    let vcpus = VCpuConfigs::<ScriptedVCpu> {
        per_vcpu: vec![(Vec::new(), ())],
    };
    assert_eq!(
        Vm::new(config, space, AxVmDevices::default(), vcpus).err(),
        Some(AxVmError::InvalidInput)
    );
}

#[test]
fn dropping_a_vm_gives_every_frame_back() {
    let before = ArenaHal::frames_in_use();
    {
        let config = CONFIG.replace(
            "[0x4800_0000, 0x1000, 0x1, 0]",
            "[0x4800_0000, 0x20_0000, 0x3, 1]",
        );
        let (vm, _) = vm_with(&config, vec![Vec::new(), Vec::new()]);
        vm.load_kernel_image(&[1; 0x5000]).unwrap();
        assert!(ArenaHal::frames_in_use() > before);
    }
    assert_eq!(ArenaHal::frames_in_use(), before);
    assert_eq!(ArenaHal::misuses(), 0);
}

#[test]
fn power_off_and_cpu_events_reach_the_hypervisor() {
    let up = AxVCpuExitReason::CpuUp {
        target_cpu: 1,
        entry_point: GuestPhysAddr::from(0x4008_1000),
        arg: 9,
    };
    let (vm, _) = vm_with(
        CONFIG,
        vec![vec![Ok(up), Ok(AxVCpuExitReason::SystemDown)], Vec::new()],
    );
    vm.boot().unwrap();
    assert_eq!(vm.run_vcpu(0), Ok(up));
    {
        let mut secondary = vm.vcpu(1).unwrap();
        secondary
            .set_entry(GuestPhysAddr::from(0x4008_1000))
            .unwrap();
        secondary.set_gpr(0, 9).unwrap();
    }
    assert_eq!(vm.run_vcpu(0), Ok(AxVCpuExitReason::SystemDown));
    assert_eq!(vm.state(), VMState::Stopped);
    assert!(vm.vcpu(2).is_err());
}

/// Takes every free frame of this thread's arena; give them back with [`give_back`].
fn exhaust_host_memory() -> Vec<HostPhysAddr> {
    std::iter::from_fn(ArenaHal::alloc_frame).collect()
}

fn give_back(frames: Vec<HostPhysAddr>) {
    for frame in frames {
        ArenaHal::dealloc_frame(frame);
    }
}

/// The old defect: a nested page fault the host had no memory for stopped the VM
/// with a guest fault (`Forbidden`), as if the guest had done something wrong.
#[test]
fn host_out_of_memory_in_a_fault_is_the_hosts_error_and_the_vm_runs_on() {
    let ram_fault = AxVCpuExitReason::NestedPageFault {
        addr: GuestPhysAddr::from(0x4030_0000),
        access_flags: MappingFlags::WRITE,
    };
    let hypercall = AxVCpuExitReason::Hypercall {
        nr: 1,
        args: [0; 6],
    };
    // The guest retries the access after the host's error.
    let script = vec![Ok(ram_fault), Ok(ram_fault), Ok(hypercall)];
    let (vm, _) = vm_with(CONFIG, vec![script, Vec::new()]);
    vm.boot().unwrap();
    let taken = exhaust_host_memory();
    assert_eq!(vm.run_vcpu(0), Err(AxVmError::NoMemory));
    assert_eq!(vm.fault(), None);
    assert_eq!(vm.state(), VMState::Running);
    give_back(taken);
    assert_eq!(vm.run_vcpu(0), Ok(hypercall));
    let mut word = [0xffu8; 4];
    vm.read_guest(GuestPhysAddr::from(0x4030_0000), &mut word)
        .unwrap();
    assert_eq!(word, [0; 4]);
}

/// The old defect: loading an image without host memory for it said
/// `BadAddress`, blaming the config.
#[test]
fn loading_without_host_memory_is_no_memory() {
    let (vm, _) = vm_with(CONFIG, vec![Vec::new(), Vec::new()]);
    let taken = exhaust_host_memory();
    assert_eq!(vm.load_kernel_image(b"kernel"), Err(AxVmError::NoMemory));
    give_back(taken);
    vm.load_kernel_image(b"kernel").unwrap();
    // Outside RAM stays the config's error.
    assert_eq!(
        vm.write_guest(GuestPhysAddr::from(0x5000_0000), b"x"),
        Err(AxVmError::BadAddress)
    );
}

/// Two VMs cannot share a VMID: their spaces refuse it.
#[test]
fn a_second_space_with_a_live_vmid_is_refused() {
    let (vm, _) = vm_with(CONFIG, vec![Vec::new(), Vec::new()]);
    let vmid = vm.paging_config().vmid;
    let again = AddrSpace::<TestHal, Stage2, RecordingTlb>::with_format(
        Stage2::new(48, 4, vmid).unwrap(),
        RecordingTlb::default(),
        GuestPhysAddr::from(0),
        1 << 48,
    );
    assert_eq!(again.err(), Some(AxVmError::AlreadyExists));
    drop(vm);
    assert!(!ArenaHal::vmids().is_held(vmid));
}

/// The old defect: images were written wherever the config put them, so a kernel
/// larger than the gap before the DTB silently overwrote it (the config cannot
/// know image sizes; the load can).
#[test]
fn an_image_that_overlaps_another_is_refused_and_reloading_replaces() {
    let (vm, _) = vm_with(CONFIG, vec![Vec::new(), Vec::new()]);
    vm.load_dtb(&[0xd0; 0x100]).unwrap();
    // The DTB is at 0x4000_0000, the kernel at 0x4008_0000: a kernel that fits.
    vm.load_kernel_image(&[1; 0x1000]).unwrap();
    // Loading the kernel again replaces it.
    vm.load_kernel_image(&[2; 0x2000]).unwrap();
    // A DTB large enough to reach the kernel is refused and written nowhere.
    assert_eq!(vm.load_dtb(&[0xd1; 0x8_0001]), Err(AxVmError::InvalidInput));
    let mut byte = [0u8; 1];
    vm.read_guest(GuestPhysAddr::from(0x4008_0000), &mut byte)
        .unwrap();
    assert_eq!(byte, [2]);
    vm.read_guest(GuestPhysAddr::from(0x4000_0000), &mut byte)
        .unwrap();
    assert_eq!(byte, [0xd0]);
}
