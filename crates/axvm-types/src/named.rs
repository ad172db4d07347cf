//! A declarative macro for the small "code + name" enums of this crate.
//!
//! VM configs name these values either by number (`map_type = 1`) or by word
//! (`interrupt_mode = "passthrough"`), and tools print them back. One macro keeps
//! the code table, the accepted spellings and `Display` of every such enum in step.

/// Declares a fieldless enum with a numeric code and one or more accepted names per
/// variant. The first name is canonical: `name()` and `Display` print it.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $code:literal => [$canonical:literal $(, $alias:literal)* $(,)?]
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        #[repr(usize)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                $variant = $code,
            )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The numeric code of this value.
            #[must_use]
            pub const fn code(self) -> usize {
                self as usize
            }

            /// The value with numeric code `code`, or `None` for an unknown code.
            #[must_use]
            pub const fn from_usize(code: usize) -> Option<Self> {
                match code {
                    $($code => Some(Self::$variant),)+
                    _ => None,
                }
            }

            /// The canonical name of this value.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $canonical,)+
                }
            }

            /// Every accepted spelling of this value, canonical name first.
            #[must_use]
            pub const fn names(self) -> &'static [&'static str] {
                match self {
                    $(Self::$variant => &[$canonical $(, $alias)*],)+
                }
            }

            /// The value with the given name (canonical or alias), or `None`.
            #[must_use]
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|value| value.names().contains(&name))
            }
        }

        impl $crate::ConfigEnum for $name {
            const ALL: &'static [Self] = Self::ALL;

            fn code(self) -> usize {
                Self::code(self)
            }

            fn from_usize(code: usize) -> Option<Self> {
                Self::from_usize(code)
            }

            fn from_name(name: &str) -> Option<Self> {
                Self::from_name(name)
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl TryFrom<usize> for $name {
            type Error = $crate::UnknownCode;

            fn try_from(code: usize) -> Result<Self, Self::Error> {
                Self::from_usize(code).ok_or($crate::UnknownCode(code))
            }
        }

        impl From<$name> for usize {
            fn from(value: $name) -> usize {
                value.code()
            }
        }

        impl core::str::FromStr for $name {
            type Err = $crate::UnknownName;

            fn from_str(name: &str) -> Result<Self, Self::Err> {
                Self::from_name(name).ok_or($crate::UnknownName)
            }
        }
    };
}

pub(crate) use named_enum;

/// The enums of a VM config that a file may give as a number or as a name.
///
/// Lets a config reader handle all of them with one generic function.
pub trait ConfigEnum: Copy + core::fmt::Display + 'static {
    /// Every value.
    const ALL: &'static [Self];
    /// The numeric code of this value.
    fn code(self) -> usize;
    /// The value with numeric code `code`, if any.
    fn from_usize(code: usize) -> Option<Self>;
    /// The value with the given name or alias, if any.
    fn from_name(name: &str) -> Option<Self>;
}

/// A numeric code that names no variant of the enum it was converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownCode(pub usize);

impl core::fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "unknown code {:#x}", self.0)
    }
}

impl core::error::Error for UnknownCode {}

/// A name that is not a spelling of any variant of the enum it was parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownName;

impl core::fmt::Display for UnknownName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("unknown name")
    }
}

impl core::error::Error for UnknownName {}
