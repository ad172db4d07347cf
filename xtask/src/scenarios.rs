//! The system-test scenarios: which VMs minivisor runs together, how each must end,
//! and what the console must show; for interactive guests, what to type.

use std::time::Duration;

use crate::{
    arch::Arch,
    initramfs, linux,
    script::{Script, Step},
};

/// One boot of minivisor.
pub struct Scenario {
    /// Its name in the results table.
    pub name: &'static str,
    /// `(expect, config file in configs/vms)`: `off` when the guest must power off,
    /// `fault` when minivisor must stop it, with minivisor's options for the VM after
    /// a `+` (`off+nosstc`: riscv64 vCPUs without Sstc; see minivisor's build.rs).
    pub vms: &'static [(&'static str, &'static str)],
    /// Lines (or parts of lines) the console must show.
    pub output: &'static [&'static str],
    /// Run with one instruction per nanosecond of virtual time (`-icount
    /// shift=0,sleep=off`), so that guests can count instructions with the timer
    /// (QEMU; under Bochs the TSC counts instructions always).
    pub icount: bool,
    /// The conversation with the console, for a guest that waits for input (a
    /// shell); `None`: the console gets no input.
    pub script: Option<&'static Script>,
}

/// Set to `0` to leave out the scenarios that boot Linux (they fetch Debian's
/// packages on first use and take the longest).
pub const LINUX_SCENARIOS_ENV: &str = "AXVM_LINUX_SCENARIOS";

/// Whether the scenarios that boot Linux run: always, unless
/// [`LINUX_SCENARIOS_ENV`] is `0`.
fn linux_enabled() -> bool {
    std::env::var(LINUX_SCENARIOS_ENV).map_or(true, |value| value != "0")
}

/// The scenarios of `arch`, the Linux ones included when enabled.
pub fn scenarios(arch: Arch) -> Vec<&'static Scenario> {
    let (always, linux) = match arch {
        Arch::Aarch64 => (AARCH64, AARCH64_LINUX),
        Arch::Riscv64 => (RISCV64, RISCV64_LINUX),
        Arch::X86_64 => (X86_64, &[][..]),
    };
    let linux = if linux_enabled() { linux } else { &[] };
    always.iter().chain(linux).collect()
}

/// Linux under minivisor: a busybox shell on the PL011, beside the hello VM. The
/// typed commands never contain what their steps wait for (`$((6*7))` is typed,
/// `42` is awaited), so a step cannot match the console's echo of its command.
const AARCH64_LINUX: &[Scenario] = &[Scenario {
    name: "linux",
    vms: &[("off", "aarch64-linux.toml"), ("off", "aarch64-hello.toml")],
    output: &["[hello-aarch64] Hello from an aarch64 guest"],
    icount: false,
    script: Some(&LINUX_SHELL),
}];

/// The same on riscv64: the shell on the NS16550 (PLIC source 10), powered off
/// through SBI SRST.
const RISCV64_LINUX: &[Scenario] = &[Scenario {
    name: "linux",
    vms: &[("off", "riscv64-linux.toml"), ("off", "riscv64-hello.toml")],
    output: &["[hello-riscv64] Hello from a riscv64 guest"],
    icount: false,
    script: Some(&LINUX_SHELL),
}];

/// Boot to the shell, run a command, read `/proc/interrupts`, power off.
static LINUX_SHELL: Script = Script {
    steps: &[
        // The first input turns the console to raw output (minivisor), which
        // shows the shell's prompt, a line without an end.
        Step {
            wait_for: initramfs::MARKER,
            within: Duration::from_secs(300),
            check: None,
            send: "\n",
        },
        Step {
            wait_for: " # ",
            within: Duration::from_secs(60),
            check: None,
            send: "echo SHELL-$((6*7))\n",
        },
        Step {
            wait_for: "SHELL-42",
            within: Duration::from_secs(60),
            check: None,
            send: "cat /proc/interrupts; echo IRQS-$((4+5))\n",
        },
        Step {
            wait_for: "IRQS-9",
            within: Duration::from_secs(60),
            check: Some(|text| linux::check_interrupts(text, 2)),
            send: "poweroff -f\n",
        },
    ],
    exit_within: Duration::from_secs(60),
};

const AARCH64: &[Scenario] = &[
    Scenario {
        name: "hello",
        vms: &[("off", "aarch64-hello.toml")],
        output: &["[hello-aarch64] Hello from an aarch64 guest at EL1 (vCPU 0)"],
        icount: false,
        script: None,
    },
    Scenario {
        name: "hypercall",
        vms: &[("off", "aarch64-hypercall.toml")],
        output: &["[hypercall-aarch64] hypercall: 32 calls returned the expected values"],
        icount: false,
        script: None,
    },
    Scenario {
        name: "memory",
        vms: &[("off", "aarch64-memory.toml")],
        output: &["across 2 MiB and 1 GiB boundaries OK"],
        icount: false,
        script: None,
    },
    Scenario {
        name: "smp",
        vms: &[("off", "aarch64-smp.toml")],
        output: &[
            "[smp-aarch64] smp: vCPU 0 starting vCPU 1",
            "[smp-aarch64] smp: vCPU 1 running, context 0x5eed0001",
            "[smp-aarch64] smp: both vCPUs ran",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "hostile",
        vms: &[
            ("fault", "aarch64-hostile-read.toml"),
            ("fault", "aarch64-hostile-write.toml"),
            ("fault", "aarch64-hostile-readonly.toml"),
            ("off", "aarch64-hostile-hypercall.toml"),
            ("off", "aarch64-hello.toml"),
        ],
        output: &[
            "VM `hostile-read-aarch64` stopped: read of GPA:0x20000000, where there is neither RAM nor a device",
            "VM `hostile-write-aarch64` stopped: write of GPA:0x20000000, where there is neither RAM nor a device",
            "VM `hostile-readonly-aarch64` stopped: write of GPA:0x48000000, which the memory's permissions forbid",
            "VM `hostile-hypercall-aarch64` made unknown hypercall 0xdeadbeef: refused",
            "[hostile-hypercall-aarch64] hostile: unknown hypercall refused with NOT_SUPPORTED",
            "[hello-aarch64] Hello from an aarch64 guest",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "two VMs",
        vms: &[
            ("off", "aarch64-hello.toml"),
            ("off", "aarch64-second.toml"),
        ],
        output: &[
            "[hello-aarch64] Hello from an aarch64 guest",
            "[second-aarch64] Hello from an aarch64 guest",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "exit costs",
        vms: &[("off", "aarch64-exitcost.toml")],
        output: &["[exitcost-aarch64] exitcost: hypercall round trip"],
        icount: true,
        script: None,
    },
    Scenario {
        name: "firmware",
        vms: &[("off", "aarch64-firmware.toml")],
        output: &["[firmware-aarch64] firmware: all services answered"],
        icount: false,
        script: None,
    },
    Scenario {
        name: "timer",
        vms: &[("off", "aarch64-spin.toml")],
        output: &[
            "[spin-aarch64] spin: done after",
            "minivisor: the host timer took the CPU back from a running guest",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "parallel",
        vms: &[
            ("off", "aarch64-parallel-a.toml"),
            ("off", "aarch64-parallel-b.toml"),
            ("off", "aarch64-parallel-c.toml"),
            ("off", "aarch64-parallel-d.toml"),
        ],
        output: &[
            "[parallel-a-aarch64] parallel: vCPU 0 checked its FP registers after",
            "[parallel-a-aarch64] parallel: vCPU 1 checked its FP registers after",
            "[parallel-b-aarch64] parallel: vCPU 0 checked its FP registers after",
            "[parallel-b-aarch64] parallel: vCPU 1 checked its FP registers after",
            "[parallel-c-aarch64] parallel: vCPU 0 checked its FP registers after",
            "[parallel-c-aarch64] parallel: vCPU 1 checked its FP registers after",
            "[parallel-d-aarch64] parallel: vCPU 0 checked its FP registers after",
            "[parallel-d-aarch64] parallel: vCPU 1 checked its FP registers after",
            "minivisor: vCPUs ran on 4 of 4 CPUs",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "timeslice",
        vms: &[("off", "aarch64-timeslice.toml")],
        output: &[
            "[timeslice-aarch64] timeslice: vCPU 1 finished beside a spinning vCPU 2",
            "[timeslice-aarch64] timeslice: done",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "vtimer",
        vms: &[("off", "aarch64-vtimer.toml")],
        output: &[
            "[vtimer-aarch64] vtimer: 10 interrupts while waiting (WFI)",
            "[vtimer-aarch64] vtimer: 10 interrupts while running",
        ],
        icount: true,
        script: None,
    },
    Scenario {
        name: "vtimer shared",
        vms: &[("off", "aarch64-vtimer-shared.toml")],
        output: &[
            "[vtimer-shared-aarch64] vtimer: vCPU 0: 10 interrupts while waiting (WFI)",
            "[vtimer-shared-aarch64] vtimer: vCPU 0: 10 interrupts while running",
            "[vtimer-shared-aarch64] vtimer: vCPU 1: 10 interrupts while waiting (WFI)",
            "[vtimer-shared-aarch64] vtimer: vCPU 1: 10 interrupts while running",
            "timer interrupts while vCPU 0 was in its timer handler",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "interrupts",
        vms: &[("off", "aarch64-interrupts.toml")],
        // The last line comes after the input, when the console prints raw: it
        // carries the VM's prefix only if nothing printed between (see the script).
        output: &[
            "[interrupts-aarch64] interrupts: GICD write round trip",
            "[interrupts-aarch64] interrupts: 10 vtimer interrupts through the vGIC while waiting (WFI), deadline to handler",
            "[interrupts-aarch64] interrupts: waiting for input",
            "interrupts: vtimer 10, sgi 2, uart-rx 4 bytes in",
        ],
        icount: true,
        script: Some(&INTERRUPTS_INPUT),
    },
];

/// The interrupts guest's UART input (aarch64 and riscv64): four bytes, which its
/// receive interrupt handler counts.
static INTERRUPTS_INPUT: Script = Script {
    steps: &[Step {
        wait_for: "interrupts: waiting for input",
        within: Duration::from_secs(60),
        check: None,
        send: "abc\n",
    }],
    exit_within: Duration::from_secs(60),
};

const RISCV64: &[Scenario] = &[
    Scenario {
        name: "hello",
        vms: &[("off", "riscv64-hello.toml")],
        output: &["[hello-riscv64] Hello from a riscv64 guest in VS-mode (vCPU 0)"],
        icount: false,
        script: None,
    },
    Scenario {
        name: "hypercall",
        vms: &[("off", "riscv64-hypercall.toml")],
        output: &["[hypercall-riscv64] hypercall: 32 calls returned the expected values"],
        icount: false,
        script: None,
    },
    Scenario {
        name: "memory",
        vms: &[("off", "riscv64-memory.toml")],
        output: &["across 2 MiB and 1 GiB boundaries OK"],
        icount: false,
        script: None,
    },
    Scenario {
        name: "smp",
        vms: &[("off", "riscv64-smp.toml")],
        output: &[
            "[smp-riscv64] smp: vCPU 0 starting vCPU 1",
            "[smp-riscv64] smp: vCPU 1 running, context 0x5eed0001",
            "[smp-riscv64] smp: FP registers kept across vCPU switches",
            "[smp-riscv64] smp: both vCPUs ran",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "hostile",
        vms: &[
            ("fault", "riscv64-hostile-read.toml"),
            ("fault", "riscv64-hostile-write.toml"),
            ("fault", "riscv64-hostile-readonly.toml"),
            ("off", "riscv64-hostile-hypercall.toml"),
            ("off", "riscv64-hello.toml"),
        ],
        output: &[
            "VM `hostile-read-riscv64` stopped: read of GPA:0x20000000, where there is neither RAM nor a device",
            "VM `hostile-write-riscv64` stopped: write of GPA:0x20000000, where there is neither RAM nor a device",
            "VM `hostile-readonly-riscv64` stopped: write of GPA:0x98000000, which the memory's permissions forbid",
            "VM `hostile-hypercall-riscv64` made unknown hypercall 0xdeadbeef: refused",
            "[hostile-hypercall-riscv64] hostile: unknown hypercall refused with NOT_SUPPORTED",
            "[hello-riscv64] Hello from a riscv64 guest",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "two VMs",
        vms: &[
            ("off", "riscv64-hello.toml"),
            ("off", "riscv64-second.toml"),
        ],
        output: &[
            "[hello-riscv64] Hello from a riscv64 guest",
            "[second-riscv64] Hello from a riscv64 guest",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "exit costs",
        vms: &[("off", "riscv64-exitcost.toml")],
        output: &["[exitcost-riscv64] exitcost: hypercall round trip"],
        icount: true,
        script: None,
    },
    Scenario {
        name: "firmware",
        vms: &[("off", "riscv64-firmware.toml")],
        output: &[
            "[firmware-riscv64] firmware: hello through the SBI debug console",
            "[firmware-riscv64] firmware: hello through the legacy SBI console",
            "[firmware-riscv64] firmware: all services answered",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "plic",
        vms: &[("off", "riscv64-plic.toml")],
        output: &[
            "[plic-riscv64] plic: VSEIP followed the claim and the completion",
            "[plic-riscv64] plic: claim/complete round trip",
        ],
        icount: true,
        script: None,
    },
    Scenario {
        name: "timer",
        vms: &[("off", "riscv64-spin.toml")],
        output: &[
            "[spin-riscv64] spin: done after",
            "minivisor: the host timer took the CPU back from a running guest",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "parallel",
        vms: &[
            ("off", "riscv64-parallel-a.toml"),
            ("off", "riscv64-parallel-b.toml"),
            ("off", "riscv64-parallel-c.toml"),
            ("off", "riscv64-parallel-d.toml"),
        ],
        output: &[
            "[parallel-a-riscv64] parallel: vCPU 0 checked its FP registers after",
            "[parallel-a-riscv64] parallel: vCPU 1 checked its FP registers after",
            "[parallel-b-riscv64] parallel: vCPU 0 checked its FP registers after",
            "[parallel-b-riscv64] parallel: vCPU 1 checked its FP registers after",
            "[parallel-c-riscv64] parallel: vCPU 0 checked its FP registers after",
            "[parallel-c-riscv64] parallel: vCPU 1 checked its FP registers after",
            "[parallel-d-riscv64] parallel: vCPU 0 checked its FP registers after",
            "[parallel-d-riscv64] parallel: vCPU 1 checked its FP registers after",
            "minivisor: vCPUs ran on 4 of 4 CPUs",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "timeslice",
        vms: &[("off", "riscv64-timeslice.toml")],
        output: &[
            "[timeslice-riscv64] timeslice: vCPU 1 finished beside a spinning vCPU 2",
            "[timeslice-riscv64] timeslice: done",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "interrupts",
        vms: &[("off", "riscv64-interrupts.toml")],
        output: &[
            "[interrupts-riscv64] interrupts: stimecmp: 10 timer interrupts while waiting (WFI)",
            "[interrupts-riscv64] interrupts: stimecmp: 10 timer interrupts while running",
            "[interrupts-riscv64] interrupts: SBI set_timer with Sstc: 10 timer interrupts while waiting (WFI)",
            "[interrupts-riscv64] interrupts: SBI set_timer with Sstc: 10 timer interrupts while running",
            "[interrupts-riscv64] interrupts: IPI from hart 0 to hart 1's handler",
            "[interrupts-riscv64] interrupts: waiting for input",
            "interrupts: sstc on, unknown hart refused, timer 40, ipi 2, uart-rx 4 bytes in",
            "minivisor: vCPUs ran on 2 of 4 CPUs",
        ],
        icount: true,
        script: Some(&INTERRUPTS_INPUT),
    },
    // The same guest with its vCPUs on the SBI TIME path: the backend injects the
    // timer interrupt (hvip.VSTIP) and minivisor's host timer interrupts the guest
    // at its deadline.
    Scenario {
        name: "interrupts sbi",
        vms: &[("off+nosstc", "riscv64-interrupts.toml")],
        output: &[
            "[interrupts-riscv64] interrupts: SBI set_timer without Sstc: 10 timer interrupts while waiting (WFI)",
            "[interrupts-riscv64] interrupts: SBI set_timer without Sstc: 10 timer interrupts while running",
            "[interrupts-riscv64] interrupts: waiting for input",
            "interrupts: sstc off, unknown hart refused, timer 20, ipi 2, uart-rx 4 bytes in",
            "minivisor: vCPUs ran on 2 of 4 CPUs",
        ],
        icount: true,
        script: Some(&INTERRUPTS_INPUT),
    },
];

const X86_64: &[Scenario] = &[
    Scenario {
        name: "hello",
        vms: &[("off", "x86_64-hello.toml")],
        output: &[
            "[hello-x86_64] multiboot: magic OK, 15360 KiB upper memory",
            "[hello-x86_64] Hello from an x86_64 guest in VMX non-root long mode (vCPU 0)",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "real mode",
        vms: &[("off", "x86_64-realmode.toml")],
        output: &[
            "[realmode-x86_64] Hello from 16-bit real mode (unrestricted guest)",
            "[realmode-x86_64] Switched by itself: now in 32-bit protected mode",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "hypercall",
        vms: &[("off", "x86_64-hypercall.toml")],
        output: &["[hypercall-x86_64] hypercall: 32 calls returned the expected values"],
        icount: false,
        script: None,
    },
    Scenario {
        name: "memory",
        vms: &[("off", "x86_64-memory.toml")],
        output: &["across 2 MiB and 1 GiB boundaries OK"],
        icount: false,
        script: None,
    },
    Scenario {
        name: "smp",
        vms: &[("off", "x86_64-smp.toml")],
        output: &[
            "[smp-x86_64] smp: vCPU 0 starting vCPU 1",
            "[smp-x86_64] smp: vCPU 1 running, context 0x5eed0001",
            "[smp-x86_64] smp: both vCPUs ran",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "hostile",
        vms: &[
            ("fault", "x86_64-hostile-read.toml"),
            ("fault", "x86_64-hostile-write.toml"),
            ("fault", "x86_64-hostile-readonly.toml"),
            ("off", "x86_64-hostile-hypercall.toml"),
            ("off", "x86_64-hostile-msr.toml"),
            ("fault", "x86_64-hostile-stringio.toml"),
            ("off", "x86_64-hello.toml"),
        ],
        output: &[
            "VM `hostile-read-x86_64` stopped: read of GPA:0x20000000, where there is neither RAM nor a device",
            "VM `hostile-write-x86_64` stopped: write of GPA:0x20000000, where there is neither RAM nor a device",
            "VM `hostile-readonly-x86_64` stopped: write of GPA:0x2000000, which the memory's permissions forbid",
            "VM `hostile-hypercall-x86_64` made unknown hypercall 0xdeadbeef: refused",
            "[hostile-hypercall-x86_64] hostile: unknown hypercall refused with NOT_SUPPORTED",
            "[hostile-msr-x86_64] hostile: reading forbidden MSR 0x3a",
            "[hostile-msr-x86_64] guest: #GP at RIP",
            "VM `hostile-stringio-x86_64` stopped: the vCPU stopped on an exit it cannot decode",
            "[hello-x86_64] Hello from an x86_64 guest",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "two VMs",
        vms: &[("off", "x86_64-hello.toml"), ("off", "x86_64-second.toml")],
        output: &[
            "[hello-x86_64] Hello from an x86_64 guest",
            "[second-x86_64] Hello from an x86_64 guest",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "exit costs",
        vms: &[("off", "x86_64-exitcost.toml")],
        output: &["[exitcost-x86_64] exitcost: hypercall round trip"],
        icount: true,
        script: None,
    },
    Scenario {
        name: "timer",
        vms: &[("off", "x86_64-spin.toml")],
        output: &[
            "[spin-x86_64] spin: done after",
            "minivisor: the host timer took the CPU back from a running guest",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "parallel",
        vms: &[
            ("off", "x86_64-parallel-a.toml"),
            ("off", "x86_64-parallel-b.toml"),
            ("off", "x86_64-parallel-c.toml"),
            ("off", "x86_64-parallel-d.toml"),
        ],
        output: &[
            "[parallel-a-x86_64] parallel: vCPU 0 checked its FP registers after",
            "[parallel-a-x86_64] parallel: vCPU 1 checked its FP registers after",
            "[parallel-b-x86_64] parallel: vCPU 0 checked its FP registers after",
            "[parallel-b-x86_64] parallel: vCPU 1 checked its FP registers after",
            "[parallel-c-x86_64] parallel: vCPU 0 checked its FP registers after",
            "[parallel-c-x86_64] parallel: vCPU 1 checked its FP registers after",
            "[parallel-d-x86_64] parallel: vCPU 0 checked its FP registers after",
            "[parallel-d-x86_64] parallel: vCPU 1 checked its FP registers after",
            "minivisor: vCPUs ran on 2 of 2 CPUs",
        ],
        icount: false,
        script: None,
    },
    Scenario {
        name: "timeslice",
        vms: &[("off", "x86_64-timeslice.toml")],
        output: &[
            "[timeslice-x86_64] timeslice: vCPU 1 finished beside a spinning vCPU 2",
            "[timeslice-x86_64] timeslice: done",
        ],
        icount: false,
        script: None,
    },
];
