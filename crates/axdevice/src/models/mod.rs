//! The device models this crate ships.

mod dummy;
mod fifo;
mod ns16550;
mod pl011;

pub use dummy::DummyDevice;
pub use ns16550::Ns16550;
pub use pl011::Pl011;
