//! System tests: minivisor and the guests under an emulator, one boot per scenario,
//! each judged by the emulator's exit status and the console output.

use std::time::Duration;

use crate::{
    arch::{self, Arch},
    emulator::{self, RunResult},
    escapes, images, linux,
    scenarios::Scenario,
    script::{self, ScriptedRun},
    steps::Outcome,
};

/// How long one scenario may take before it counts as hung.
const SCENARIO_LIMIT: Duration = Duration::from_secs(60);

/// Builds minivisor with the scenario's VMs and boots it; the verdict and the time.
pub fn run_scenario(arch: Arch, scenario: &Scenario) -> (Outcome, Duration) {
    let configs = images::root().join("configs").join("vms");
    let vms: Vec<(&str, std::path::PathBuf)> = scenario
        .vms
        .iter()
        .map(|(expect, file)| (*expect, configs.join(file)))
        .collect();
    // A Linux guest's images are fetched and built on first use.
    let configs: Vec<std::path::PathBuf> = vms.iter().map(|(_, config)| config.clone()).collect();
    if let Err(why) = linux::ensure_for(&configs) {
        return (Outcome::Failed(why), Duration::ZERO);
    }
    let kernel = match images::build_minivisor(arch, &vms) {
        Ok(kernel) => kernel,
        Err(why) => return (Outcome::Failed(why), Duration::ZERO),
    };
    println!(
        "\n==> scenario {arch} {}: {} VM(s)",
        scenario.name,
        vms.len()
    );
    let work = images::scratch_dir(arch, scenario.name);
    let mut command = match emulator::command(arch, &kernel, scenario.icount, &work) {
        Ok(command) => command,
        Err(why) => return (Outcome::Failed(why), Duration::ZERO),
    };
    let Some(script) = scenario.script else {
        return match emulator::run_with_limit(&mut command, SCENARIO_LIMIT, true) {
            Ok(result) => (judge(arch, scenario, &result), result.duration),
            Err(why) => (Outcome::Failed(why), Duration::ZERO),
        };
    };
    match script::run(&mut command, script, true) {
        Ok(ScriptedRun {
            result,
            failure: Some(why),
        }) => {
            // A VM that could not even start is the likely cause: say which.
            let why = match failed_vm(&result.output) {
                Some(vm) => format!("{why}; {vm}"),
                None => why,
            };
            (Outcome::Failed(why), result.duration)
        }
        Ok(ScriptedRun {
            result,
            failure: None,
        }) => (judge(arch, scenario, &result), result.duration),
        Err(why) => (Outcome::Failed(why), Duration::ZERO),
    }
}

/// The lines that show every physical CPU of `arch` came up: one per CPU, then
/// the count.
fn cpus_up(arch: Arch) -> Vec<String> {
    let cpus = arch::cpus(arch);
    (0..cpus)
        .map(|cpu| format!("minivisor: cpu {cpu} up ("))
        .chain([format!("{cpus} CPUs up")])
        .collect()
}

/// The line minivisor's start-up self-test prints when TLB invalidation reached
/// every other CPU of `arch`: through NMIs (x86_64) or SBI remote fences
/// (riscv64); on aarch64 the `tlbi ...is` broadcast covers them by itself.
fn remote_tlb(arch: Arch) -> String {
    let others = arch::cpus(arch).saturating_sub(1);
    match arch {
        Arch::Aarch64 => format!(
            "minivisor: remote TLB invalidation: the inner-shareable broadcast covers the {others} other CPUs"
        ),
        Arch::X86_64 | Arch::Riscv64 => {
            format!("minivisor: remote TLB invalidation reached {others} other CPUs")
        }
    }
}

/// The first VM minivisor's summary reports as not ending as expected (its line,
/// trimmed), if any.
fn failed_vm(output: &str) -> Option<String> {
    escapes::strip(output)
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("VM `") && line.ends_with(": FAIL"))
        .map(str::to_owned)
}

/// PASS when the emulator exited with status 0, minivisor reported every VM as
/// expected, every CPU came up and was reached by remote TLB invalidation, the
/// console shows every expected line, and no guest reported a failure.
fn judge(arch: Arch, scenario: &Scenario, result: &RunResult) -> Outcome {
    let output = escapes::strip(&result.output).replace('\r', "");
    let Some(status) = result.status else {
        return Outcome::Failed(format!("no exit within {}s", SCENARIO_LIMIT.as_secs()));
    };
    if status != 0 {
        return Outcome::Failed(format!("emulator exit status {status}"));
    }
    if !output.contains("VMs as expected: PASS") {
        return Outcome::Failed("minivisor did not report every VM as expected".into());
    }
    if let Some(line) = output.lines().find(|line| line.contains("FAILED")) {
        return Outcome::Failed(format!("a guest failed: {}", line.trim()));
    }
    if let Some(missing) = cpus_up(arch).iter().find(|want| !output.contains(*want)) {
        return Outcome::Failed(format!("not every CPU came up: missing {}", missing.trim()));
    }
    let tlb = remote_tlb(arch);
    if !output.contains(&tlb) {
        return Outcome::Failed(format!(
            "remote TLB invalidation did not reach every CPU: missing {}",
            tlb.trim()
        ));
    }
    match scenario.output.iter().find(|want| !output.contains(*want)) {
        Some(missing) => Outcome::Failed(format!("missing output: {missing}")),
        None => Outcome::Passed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCENARIO: Scenario = Scenario {
        name: "t",
        vms: &[],
        output: &["[vm] Hello"],
        icount: false,
        script: None,
    };

    fn result(status: Option<i32>, output: &str) -> RunResult {
        RunResult {
            status,
            output: output.into(),
            duration: Duration::ZERO,
        }
    }

    /// What minivisor prints when both CPUs of an x86_64 machine came up.
    const UP: &str = "minivisor: cpu 0 up (APIC id 0x0)\nminivisor: cpu 1 up (APIC id 0x1)\n\
                      minivisor: x on y, 2 CPUs up\n\
                      minivisor: remote TLB invalidation reached 1 other CPUs\n";

    fn judge(scenario: &Scenario, result: &RunResult) -> Outcome {
        super::judge(Arch::X86_64, scenario, result)
    }

    #[test]
    fn the_first_failed_vm_is_named() {
        let summary = "minivisor: summary\r\n  VM `a` (a.toml): powered off; expected power off: PASS\r\n\
                       \x20 VM `b` (b.toml): failed: devices: no model; expected power off: FAIL\r\n";
        assert_eq!(
            failed_vm(summary).as_deref(),
            Some("VM `b` (b.toml): failed: devices: no model; expected power off: FAIL")
        );
        assert_eq!(failed_vm("minivisor: 1 of 1 VMs as expected: PASS\n"), None);
    }

    #[test]
    fn a_scenario_fails_unless_every_cpu_came_up() {
        let good = format!("{UP}[vm] Hello\nminivisor: 1 of 1 VMs as expected: PASS\n");
        assert_eq!(judge(&SCENARIO, &result(Some(0), &good)), Outcome::Passed);
        let one = good.replace("minivisor: cpu 1 up (APIC id 0x1)\n", "");
        assert_eq!(
            judge(&SCENARIO, &result(Some(0), &one)),
            Outcome::Failed("not every CPU came up: missing minivisor: cpu 1 up (".into())
        );
        let count = good.replace("2 CPUs up", "1 CPUs up");
        assert!(matches!(
            judge(&SCENARIO, &result(Some(0), &count)),
            Outcome::Failed(_)
        ));
    }

    #[test]
    fn a_scenario_fails_unless_remote_tlb_invalidation_reached_every_cpu() {
        let good = format!("{UP}[vm] Hello\nminivisor: 1 of 1 VMs as expected: PASS\n");
        let none = good.replace("reached 1 other CPUs", "reached 0 of 1 other CPUs");
        assert_eq!(
            judge(&SCENARIO, &result(Some(0), &none)),
            Outcome::Failed(
                "remote TLB invalidation did not reach every CPU: missing \
                 minivisor: remote TLB invalidation reached 1 other CPUs"
                    .into()
            )
        );
        assert!(
            super::judge(Arch::Aarch64, &SCENARIO, &result(Some(0), &good)).ne(&Outcome::Passed)
        );
        assert!(remote_tlb(Arch::Aarch64).contains("broadcast covers the 3 other CPUs"));
        assert!(remote_tlb(Arch::Riscv64).contains("reached 3 other CPUs"));
    }

    #[test]
    fn a_scenario_passes_only_with_status_summary_and_output() {
        let good = &format!("{UP}[vm] Hello\r\nminivisor: 1 of 1 VMs as expected: PASS\n");
        assert_eq!(judge(&SCENARIO, &result(Some(0), good)), Outcome::Passed);
        assert!(matches!(
            judge(&SCENARIO, &result(Some(1), good)),
            Outcome::Failed(_)
        ));
        assert!(matches!(
            judge(&SCENARIO, &result(None, good)),
            Outcome::Failed(_)
        ));
        let missing = &format!("{UP}minivisor: 1 of 1 VMs as expected: PASS\n");
        assert_eq!(
            judge(&SCENARIO, &result(Some(0), missing)),
            Outcome::Failed("missing output: [vm] Hello".into())
        );
        let escaped = &format!(
            "{UP}\u{1b}[1;1H[vm] Hello\u{1b}[K\nminivisor: 1 of 1 VMs as expected: PASS\n"
        );
        assert_eq!(judge(&SCENARIO, &result(Some(0), escaped)), Outcome::Passed);
        let failed = &format!(
            "{UP}[vm] Hello\n[vm] check FAILED\nminivisor: 1 of 1 VMs as expected: PASS\n"
        );
        assert!(matches!(
            judge(&SCENARIO, &result(Some(0), failed)),
            Outcome::Failed(_)
        ));
    }
}
