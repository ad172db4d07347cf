//! The VMs embedded at build time (see build.rs).

/// What the run of a VM must end with for its scenario to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    dead_code,
    reason = "the variants are built only by the generated VM table (build.rs)"
)]
pub enum Expect {
    /// The guest powers the VM off.
    PowerOff,
    /// The hypervisor stops the VM for a fault.
    #[allow(
        dead_code,
        reason = "built only by the generated VM table of scenarios that expect a fault"
    )]
    Fault,
}

/// A VM config and its images, embedded in the hypervisor image.
pub struct EmbeddedVm {
    /// The config file it came from, for messages.
    pub source: &'static str,
    /// The config text, parsed at run time.
    pub config: &'static str,
    /// The kernel image.
    pub kernel: &'static [u8],
    /// The device tree blob, if the config names one.
    pub dtb: Option<&'static [u8]>,
    /// The ramdisk, if the config names one.
    pub ramdisk: Option<&'static [u8]>,
    /// How the VM must end.
    pub expect: Expect,
    /// riscv64: its vCPUs get Sstc when the harts have it (`false`: the SBI TIME
    /// path, option `nosstc`); ignored elsewhere.
    #[cfg_attr(
        not(target_arch = "riscv64"),
        allow(dead_code, reason = "only riscv64 vCPUs have the choice")
    )]
    pub sstc: bool,
}

/// The VMs to run, in order.
pub static VMS: &[EmbeddedVm] = include!(concat!(env!("OUT_DIR"), "/vms.rs"));
