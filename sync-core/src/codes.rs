//! `codes!`: an enum of string codes as stored in documents and SQL, with
//! its `as_str`, `parse` and `ALL`, written once for every such enum.

/// `codes!(/// doc  Name { Variant = "code", ... })`, or with `, NAMES`
/// after the name for a `&[&str]` of every code (the schema's choices).
macro_rules! codes {
    ($(#[$m:meta])* $name:ident $(, $all:ident)? {
        $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)?
    }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }

        $(
            /// Every code, as stored.
            pub const $all: &[&str] = $name::CODES;
        )?

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            /// Every code, as stored, in `ALL`'s order.
            pub const CODES: &'static [&'static str] = &[$($s),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}
