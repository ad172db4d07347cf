//! The world switch between the hypervisor and a guest: VMLAUNCH/VMRESUME with the
//! general registers the VMCS does not hold.
//!
//! [`enter_guest`] pushes the hypervisor's callee-saved registers and the address
//! of the guest's [`GuestRegs`], writes that stack pointer to `HOST_RSP`, loads the
//! guest's registers and executes VMLAUNCH (first run after a VMCLEAR) or
//! VMRESUME. A VM exit lands at `HOST_RIP` = [`vmexit_landing`] with the stack as
//! it was left: the guest's registers are stored into the frame, the hypervisor's
//! restored, and [`enter_guest`] returns [`ENTRY_EXITED`]. When the instruction
//! itself fails, it returns at once with [`ENTRY_FAIL_INVALID`] or
//! [`ENTRY_FAIL_VALID`] and the frame untouched.

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
use super::context::GuestRegs;

/// [`enter_guest`]: the guest ran and exited (the exit reason is in the VMCS).
pub(crate) const ENTRY_EXITED: u64 = 0;
/// VMLAUNCH/VMRESUME failed with VMfailInvalid (no current VMCS).
pub(crate) const ENTRY_FAIL_INVALID: u64 = 1;
/// VMLAUNCH/VMRESUME failed with VMfailValid (see the VM-instruction error).
#[cfg_attr(not(all(target_arch = "x86_64", target_os = "none")), allow(dead_code))]
pub(crate) const ENTRY_FAIL_VALID: u64 = 2;

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
mod asm {
    use super::{ENTRY_EXITED, ENTRY_FAIL_INVALID, ENTRY_FAIL_VALID, GuestRegs};
    use crate::arch::x86_64::context::{frame::gpr, vmcs::HOST_RSP};

    core::arch::global_asm!(
        r#"
.section .text.axvcpu_vmx_switch, "ax"
.balign 16
// u64 __axvcpu_x86_enter(GuestRegs *regs /* rdi */, u64 launched /* rsi */)
.global __axvcpu_x86_enter
.hidden __axvcpu_x86_enter
__axvcpu_x86_enter:
    push    rbp
    push    rbx
    push    r12
    push    r13
    push    r14
    push    r15
    push    rdi
    mov     rax, {host_rsp}
    vmwrite rax, rsp
    mov     rax, rdi
    test    rsi, rsi
    mov     rcx, [rax + {rcx}]
    mov     rdx, [rax + {rdx}]
    mov     rbx, [rax + {rbx}]
    mov     rbp, [rax + {rbp}]
    mov     rsi, [rax + {rsi}]
    mov     rdi, [rax + {rdi}]
    mov     r8, [rax + {r8}]
    mov     r9, [rax + {r9}]
    mov     r10, [rax + {r10}]
    mov     r11, [rax + {r11}]
    mov     r12, [rax + {r12}]
    mov     r13, [rax + {r13}]
    mov     r14, [rax + {r14}]
    mov     r15, [rax + {r15}]
    mov     rax, [rax + {rax}]
    jnz     2f
    vmlaunch
    jmp     3f
2:
    vmresume
3:
    // The instruction failed: CF = VMfailInvalid, ZF = VMfailValid.
    mov     eax, {fail_valid}
    mov     ecx, {fail_invalid}
    cmovc   eax, ecx
    add     rsp, 8
    pop     r15
    pop     r14
    pop     r13
    pop     r12
    pop     rbx
    pop     rbp
    ret

// HOST_RIP: RSP = HOST_RSP, pointing at the saved GuestRegs pointer.
.global __axvcpu_x86_vmexit
.hidden __axvcpu_x86_vmexit
__axvcpu_x86_vmexit:
    push    rax
    mov     rax, [rsp + 8]
    mov     [rax + {rcx}], rcx
    mov     [rax + {rdx}], rdx
    mov     [rax + {rbx}], rbx
    mov     [rax + {rbp}], rbp
    mov     [rax + {rsi}], rsi
    mov     [rax + {rdi}], rdi
    mov     [rax + {r8}], r8
    mov     [rax + {r9}], r9
    mov     [rax + {r10}], r10
    mov     [rax + {r11}], r11
    mov     [rax + {r12}], r12
    mov     [rax + {r13}], r13
    mov     [rax + {r14}], r14
    mov     [rax + {r15}], r15
    pop     rcx
    mov     [rax + {rax}], rcx
    add     rsp, 8
    pop     r15
    pop     r14
    pop     r13
    pop     r12
    pop     rbx
    pop     rbp
    mov     eax, {exited}
    ret
.text
"#,
        host_rsp = const HOST_RSP,
        rax = const gpr(0),
        rcx = const gpr(1),
        rdx = const gpr(2),
        rbx = const gpr(3),
        rbp = const gpr(5),
        rsi = const gpr(6),
        rdi = const gpr(7),
        r8 = const gpr(8),
        r9 = const gpr(9),
        r10 = const gpr(10),
        r11 = const gpr(11),
        r12 = const gpr(12),
        r13 = const gpr(13),
        r14 = const gpr(14),
        r15 = const gpr(15),
        exited = const ENTRY_EXITED,
        fail_invalid = const ENTRY_FAIL_INVALID,
        fail_valid = const ENTRY_FAIL_VALID,
    );

    unsafe extern "C" {
        fn __axvcpu_x86_enter(regs: *mut GuestRegs, launched: u64) -> u64;
        fn __axvcpu_x86_vmexit();
    }

    pub(super) fn landing() -> u64 {
        __axvcpu_x86_vmexit as *const () as u64
    }

    /// # Safety
    ///
    /// See [`super::enter_guest`].
    pub(super) unsafe fn enter(regs: &mut GuestRegs, launched: bool) -> u64 {
        // SAFETY: forwarded from the caller; the assembly follows the System V ABI
        // for everything the caller sees (callee-saved registers restored, RFLAGS
        // cleared by the VM exit, so DF = 0).
        unsafe { __axvcpu_x86_enter(regs, u64::from(launched)) }
    }
}

/// The address VM exits land at (`HOST_RIP`). Zero when not built for bare-metal
/// x86_64.
#[must_use]
pub(crate) fn vmexit_landing() -> u64 {
    #[cfg(all(target_arch = "x86_64", target_os = "none"))]
    {
        asm::landing()
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "none")))]
    {
        0
    }
}

/// Runs the guest whose registers are in `regs` until it exits; one of the
/// `ENTRY_*` codes.
///
/// # Safety
///
/// The CPU is in VMX root operation with interrupts disabled, the vCPU owning
/// `regs` has its VMCS current on this CPU with `HOST_RIP` = [`vmexit_landing`] and
/// the rest of the host state taken from this CPU, and `launched` says whether that
/// VMCS was launched since its last VMCLEAR.
#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub(crate) unsafe fn enter_guest(regs: &mut GuestRegs, launched: bool) -> u64 {
    // SAFETY: forwarded from the caller.
    unsafe { asm::enter(regs, launched) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_landing_off_bare_metal() {
        assert_eq!(vmexit_landing(), 0);
        assert_ne!(ENTRY_EXITED, ENTRY_FAIL_INVALID);
        assert_ne!(ENTRY_FAIL_VALID, ENTRY_FAIL_INVALID);
    }
}
