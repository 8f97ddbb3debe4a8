/// Declares a UUID newtype for an entity id (`UserId`, `SessionId`, ...).
///
/// Ids are UUIDv7 made by the adapter (the data service) and handed to the domain, so the
/// domain stays free of clocks and randomness.
#[macro_export]
macro_rules! entity_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name($crate::Uuid);

        impl $name {
            /// Wraps a UUID made elsewhere.
            pub const fn from_uuid(uuid: $crate::Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> $crate::Uuid {
                self.0
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::core::convert::From<$crate::Uuid> for $name {
            fn from(uuid: $crate::Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}
