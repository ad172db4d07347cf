//! The hypervisor's own page tables: an identity map of the first 4 GiB in 2 MiB
//! pages, built by the 32-bit entry stub (`identity_map_4gib` in `identity_map.S`,
//! which the x86_64 guests share) before it turns on long mode. Every physical
//! address minivisor touches (its image, RAM up to `RAM_END`, the frames it hands
//! out) is below 4 GiB, so it needs no other mapping.

core::arch::global_asm!(include_str!("identity_map.S"));
