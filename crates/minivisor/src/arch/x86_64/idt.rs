//! The hypervisor's IDT, shared by every CPU. Minivisor runs with interrupts
//! disabled, so an entry here is an exception in the hypervisor itself, which is
//! reported (vector, error code, RIP) and ends the run as failed, or an NMI. NMIs
//! are how one CPU asks the others to invalidate EPT translations (see `tlb.rs`):
//! vector 2 saves the registers the handler may change, runs the request and
//! returns with IRET; an NMI with no request waiting is reported like an
//! exception.

use core::arch::{asm, global_asm};

use super::gdt::{CODE, TablePointer};

/// The vectors whose exceptions push an error code.
const WITH_ERROR_CODE: [u64; 10] = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];
/// The exception vectors with their own stub; every higher vector shares one.
const EXCEPTIONS: usize = 32;
/// A present, ring-0, 64-bit interrupt gate.
const INTERRUPT_GATE: u64 = 0x8e;

global_asm!(
    r#"
.macro MINIVISOR_VECTOR vector, error
minivisor_vector_\vector:
.if \error == 0
    push 0
.endif
    push \vector
    jmp minivisor_vector_common
.endm

.section .text.minivisor_vectors, "ax"
MINIVISOR_VECTOR 0, 0
MINIVISOR_VECTOR 1, 0
// NMI: the interrupted code (host code anywhere, or `int 2` after a VM exit) goes
// on afterwards, so every caller-saved register is kept (the target has no SSE
// in use); rbp keeps the stack pointer across the alignment.
minivisor_vector_2:
    push rax
    push rcx
    push rdx
    push rsi
    push rdi
    push r8
    push r9
    push r10
    push r11
    push rbp
    mov rbp, rsp
    lea rdi, [rsp + 80]
    and rsp, -16
    cld
    call {nmi}
    mov rsp, rbp
    pop rbp
    pop r11
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rax
    iretq
MINIVISOR_VECTOR 3, 0
MINIVISOR_VECTOR 4, 0
MINIVISOR_VECTOR 5, 0
MINIVISOR_VECTOR 6, 0
MINIVISOR_VECTOR 7, 0
MINIVISOR_VECTOR 8, 1
MINIVISOR_VECTOR 9, 0
MINIVISOR_VECTOR 10, 1
MINIVISOR_VECTOR 11, 1
MINIVISOR_VECTOR 12, 1
MINIVISOR_VECTOR 13, 1
MINIVISOR_VECTOR 14, 1
MINIVISOR_VECTOR 15, 0
MINIVISOR_VECTOR 16, 0
MINIVISOR_VECTOR 17, 1
MINIVISOR_VECTOR 18, 0
MINIVISOR_VECTOR 19, 0
MINIVISOR_VECTOR 20, 0
MINIVISOR_VECTOR 21, 1
MINIVISOR_VECTOR 22, 0
MINIVISOR_VECTOR 23, 0
MINIVISOR_VECTOR 24, 0
MINIVISOR_VECTOR 25, 0
MINIVISOR_VECTOR 26, 0
MINIVISOR_VECTOR 27, 0
MINIVISOR_VECTOR 28, 0
MINIVISOR_VECTOR 29, 1
MINIVISOR_VECTOR 30, 1
MINIVISOR_VECTOR 31, 0
MINIVISOR_VECTOR 255, 0

// rsp points at [vector, error code, RIP, CS, RFLAGS, RSP, SS].
minivisor_vector_common:
    mov rdi, rsp
    and rsp, -16
    call {report}
    ud2

.section .rodata.minivisor_vectors, "a"
.balign 8
.global minivisor_vector_stubs
minivisor_vector_stubs:
.irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,255
    .quad minivisor_vector_\vector
.endr
"#,
    report = sym report,
    nmi = sym nmi,
);

unsafe extern "C" {
    /// The stubs of vectors 0 to 31, then the one every other vector shares.
    static minivisor_vector_stubs: [u64; EXCEPTIONS + 1];
}

/// What a stub leaves on the stack.
#[repr(C)]
struct Frame {
    vector: u64,
    error_code: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
}

/// What the CPU pushes for an NMI: the interrupted RIP, CS and RFLAGS (then RSP
/// and SS).
#[repr(C)]
struct NmiFrame {
    rip: u64,
    cs: u64,
    rflags: u64,
}

/// The IDT: 256 gates of two words.
static mut IDT: [[u64; 2]; 256] = [[0; 2]; 256];

/// The two words of an interrupt gate to `handler`.
const fn gate(handler: u64) -> [u64; 2] {
    let low = (handler & 0xffff)
        | (CODE as u64) << 16
        | INTERRUPT_GATE << 40
        | (handler >> 16 & 0xffff) << 48;
    [low, handler >> 32]
}

/// Fills the IDT (shared by every CPU) and loads it on this CPU.
///
/// # Safety
///
/// Once, on the boot CPU at boot in 64-bit mode with the GDT loaded, interrupts
/// disabled, before any other CPU loads the IDT.
pub unsafe fn init() {
    let idt = &raw mut IDT;
    // SAFETY: the stub table is read-only data the assembly above defines.
    let stubs = unsafe { &*core::ptr::addr_of!(minivisor_vector_stubs) };
    let shared = stubs.get(EXCEPTIONS).copied().unwrap_or(0);
    for vector in 0..256 {
        let stub = stubs.get(vector).copied().unwrap_or(shared);
        // SAFETY: only this boot-time code writes the IDT, before it is loaded.
        unsafe { (*idt)[vector] = gate(stub) };
    }
    load();
}

/// Loads the IDT on this CPU (a secondary CPU, after the boot CPU filled it).
pub fn load() {
    let pointer = TablePointer {
        limit: (core::mem::size_of::<[[u64; 2]; 256]>() - 1) as u16,
        base: &raw const IDT as u64,
    };
    // SAFETY: the IDT is static, filled before any CPU loads it and never written
    // again; every gate points at a stub above.
    unsafe { asm!("lidt [{}]", in(reg) &raw const pointer, options(readonly, nostack)) };
}

/// The error code of an exception, shown only for vectors that push one.
struct ErrorCode(Option<u64>);

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(code) => write!(f, ", error code {code:#x}"),
            None => Ok(()),
        }
    }
}

/// Reports an exception in the hypervisor and ends the run as failed (it prints
/// without the heap, which may not exist yet).
extern "C" fn report(frame: &Frame) -> ! {
    let error_code = ErrorCode(
        WITH_ERROR_CODE
            .contains(&frame.vector)
            .then_some(frame.error_code),
    );
    crate::println!(
        "minivisor: exception {}{error_code} at RIP {:#x} (CS {:#x}, RFLAGS {:#x})",
        vector_name(frame.vector),
        frame.rip,
        frame.cs,
        frame.rflags
    );
    super::fail_exit()
}

/// Vector 2: a remote TLB invalidation request, run and returned from; any other
/// NMI is reported as an exception.
extern "C" fn nmi(frame: &NmiFrame) {
    if !super::tlb::handle_nmi() {
        report(&Frame {
            vector: 2,
            error_code: 0,
            rip: frame.rip,
            cs: frame.cs,
            rflags: frame.rflags,
        });
    }
}

/// The mnemonic of an exception vector.
fn vector_name(vector: u64) -> &'static str {
    const NAMES: [&str; 32] = [
        "#DE",
        "#DB",
        "NMI",
        "#BP",
        "#OF",
        "#BR",
        "#UD",
        "#NM",
        "#DF",
        "vector 9",
        "#TS",
        "#NP",
        "#SS",
        "#GP",
        "#PF",
        "vector 15",
        "#MF",
        "#AC",
        "#MC",
        "#XM",
        "#VE",
        "#CP",
        "vector 22",
        "vector 23",
        "vector 24",
        "vector 25",
        "vector 26",
        "vector 27",
        "#HV",
        "#VC",
        "#SX",
        "vector 31",
    ];
    usize::try_from(vector)
        .ok()
        .and_then(|vector| NAMES.get(vector).copied())
        .unwrap_or("an interrupt")
}
