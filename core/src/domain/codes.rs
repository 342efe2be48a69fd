//! Enumerations stored as short snake_case codes: in documents, in SQLite projections and on the wire.
//!
//! One macro defines each enum with its code table, so the code, the Chinese label and the automerge
//! mapping live in one place.

/// Defines a fieldless enum whose variants are stored as string codes.
macro_rules! code_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = ($code:literal, $zh:literal)),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
        $vis enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable code stored in documents and databases.
            pub fn code(self) -> &'static str {
                match self { $($name::$variant => $code),+ }
            }

            /// The Simplified Chinese label shown to users.
            pub fn label_zh(self) -> &'static str {
                match self { $($name::$variant => $zh),+ }
            }

            /// Parses a stored code; `None` for anything unknown.
            pub fn from_code(code: &str) -> Option<Self> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }
        }

        // For the apps: the label beside each value in a form or a list.
        #[cfg(feature = "uniffi")]
        #[uniffi::export]
        impl $name {
            /// The Simplified Chinese label shown to users.
            pub fn label(&self) -> String {
                self.label_zh().to_string()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }

        // On the wire (sync frames, JSON) as the same code.
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.code())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let code = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::from_code(&code).ok_or_else(|| {
                    serde::de::Error::custom(concat!("not a ", stringify!($name), " code"))
                })
            }
        }

        impl autosurgeon::Reconcile for $name {
            type Key<'a> = autosurgeon::reconcile::NoKey;
            fn reconcile<R: autosurgeon::Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
                reconciler.str(self.code())
            }
        }

        impl autosurgeon::Hydrate for $name {
            fn hydrate_string(s: &str) -> Result<Self, autosurgeon::HydrateError> {
                $name::from_code(s).ok_or_else(|| {
                    autosurgeon::HydrateError::unexpected(
                        concat!("a ", stringify!($name), " code"),
                        "an unknown code".to_string(),
                    )
                })
            }
        }
    };
}

pub(crate) use code_enum;
