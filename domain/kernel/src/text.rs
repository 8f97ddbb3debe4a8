//! The rules of the few texts that more than one layer checks: display names, workspace
//! names and slugs, passwords. The context domain crates wrap them in their value types
//! (`DisplayName`, `Slug`, ...); the application layer checks a whole request with them before
//! any step runs, so a client hears about every bad field at once.

/// Why a piece of text is not an acceptable value (a name, a password, a reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing (or nothing but whitespace, where the value is trimmed).
    #[error("must not be empty")]
    Empty,
    /// Fewer characters than the minimum.
    #[error("must be at least {min} characters long")]
    TooShort {
        /// The minimum number of characters.
        min: usize,
    },
    /// More characters than the maximum.
    #[error("must be at most {max} characters long")]
    TooLong {
        /// The maximum number of characters.
        max: usize,
    },
    /// Contains a control character (newline, tab, escape, ...).
    #[error("must not contain control characters")]
    ControlCharacter,
}

/// Trims `raw` and checks it is `1..=max` characters without control characters.
pub fn trimmed_line(raw: &str, max: usize) -> Result<&str, TextError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    if trimmed.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(TextError::ControlCharacter);
    }
    Ok(trimmed)
}

/// The longest display name of a user, in characters.
pub const DISPLAY_NAME_MAX_LEN: usize = 100;
/// The longest workspace name, in characters.
pub const WORKSPACE_NAME_MAX_LEN: usize = 100;
/// The shortest password, in characters.
pub const PASSWORD_MIN_LEN: usize = 12;
/// The longest password, in characters.
pub const PASSWORD_MAX_LEN: usize = 128;
/// The shortest slug, in characters.
pub const SLUG_MIN_LEN: usize = 3;
/// The longest slug, in characters.
pub const SLUG_MAX_LEN: usize = 40;

/// A display name: [`trimmed_line`] of at most [`DISPLAY_NAME_MAX_LEN`].
pub fn display_name(raw: &str) -> Result<&str, TextError> {
    trimmed_line(raw, DISPLAY_NAME_MAX_LEN)
}

/// A workspace name: [`trimmed_line`] of at most [`WORKSPACE_NAME_MAX_LEN`].
pub fn workspace_name(raw: &str) -> Result<&str, TextError> {
    trimmed_line(raw, WORKSPACE_NAME_MAX_LEN)
}

/// A password: [`PASSWORD_MIN_LEN`] to [`PASSWORD_MAX_LEN`] characters, taken exactly as
/// typed (not trimmed; every character counts).
pub fn password(raw: &str) -> Result<&str, TextError> {
    let len = raw.chars().count();
    if len < PASSWORD_MIN_LEN {
        return Err(TextError::TooShort {
            min: PASSWORD_MIN_LEN,
        });
    }
    if len > PASSWORD_MAX_LEN {
        return Err(TextError::TooLong {
            max: PASSWORD_MAX_LEN,
        });
    }
    Ok(raw)
}

/// Why a text is not a slug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    /// Nothing but whitespace.
    #[error("must not be empty")]
    Empty,
    /// Fewer characters than the minimum.
    #[error("must be at least {min} characters long")]
    TooShort {
        /// The minimum number of characters.
        min: usize,
    },
    /// More characters than the maximum.
    #[error("must be at most {max} characters long")]
    TooLong {
        /// The maximum number of characters.
        max: usize,
    },
    /// A character other than a letter, a digit or `-`.
    #[error("may contain only letters, digits and hyphens")]
    InvalidCharacter,
    /// Starts or ends with `-`.
    #[error("must not start or end with a hyphen")]
    HyphenAtEdge,
    /// One of the [`RESERVED_SLUGS`], kept for the product's own pages and hosts.
    #[error("is reserved")]
    Reserved,
}

/// Slugs no workspace may have: they name (or may one day name) the product's own hosts,
/// routes and pages.
pub const RESERVED_SLUGS: &[&str] = &[
    "about",
    "account",
    "accounts",
    "admin",
    "api",
    "app",
    "assets",
    "auth",
    "billing",
    "blog",
    "cdn",
    "dashboard",
    "dev",
    "docs",
    "download",
    "ftp",
    "health",
    "help",
    "internal",
    "invite",
    "invites",
    "legal",
    "login",
    "logout",
    "mail",
    "new",
    "null",
    "oauth",
    "pricing",
    "privacy",
    "public",
    "register",
    "root",
    "security",
    "settings",
    "signin",
    "signout",
    "signup",
    "smtp",
    "sso",
    "staging",
    "static",
    "status",
    "support",
    "system",
    "terms",
    "undefined",
    "user",
    "users",
    "webhooks",
    "workspace",
    "workspaces",
    "www",
];

/// The short name of a workspace in URLs (`acme-corp`), normalised: 3 to 40 of `a-z`, `0-9`
/// and `-`, not starting or ending with `-`, and not one of the [`RESERVED_SLUGS`]. Surrounding
/// whitespace is dropped and ASCII letters lower-cased, like an email address.
pub fn slug(raw: &str) -> Result<String, SlugError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(SlugError::Empty);
    }
    if trimmed.chars().count() > SLUG_MAX_LEN {
        return Err(SlugError::TooLong { max: SLUG_MAX_LEN });
    }
    if !trimmed
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(SlugError::InvalidCharacter);
    }
    // Only ASCII from here on: characters are bytes.
    if trimmed.len() < SLUG_MIN_LEN {
        return Err(SlugError::TooShort { min: SLUG_MIN_LEN });
    }
    if trimmed.starts_with('-') || trimmed.ends_with('-') {
        return Err(SlugError::HyphenAtEdge);
    }
    let slug = trimmed.to_ascii_lowercase();
    if RESERVED_SLUGS.contains(&slug.as_str()) {
        return Err(SlugError::Reserved);
    }
    Ok(slug)
}

/// Declares a text value type: a `String` newtype that exists only if its rule accepted it.
///
/// The type gets `parse` (the rule, its error mapped into the context's error), `as_str`,
/// `Display`, `TryFrom<String>` and `From<T> for String`, and serializes as its text, checked
/// again when read back. The rule is a function from `&str` to `Result<S, E>` where `S` is
/// `&str` or `String` (a rule may normalise, as [`slug`] lower-cases); `map` turns `E` into the
/// context's `error`. Context-specific constants and constructors go in an `impl` of their own.
///
/// ```
/// #[derive(Debug, PartialEq, thiserror::Error)]
/// pub enum ProfileError {
///     #[error("bad name: {0}")]
///     BadName(kernel_domain::text::TextError),
/// }
///
/// kernel_domain::text_value! {
///     /// A nickname.
///     pub struct Nickname { rule: kernel_domain::text::display_name, error: ProfileError = ProfileError::BadName }
/// }
/// assert_eq!(Nickname::parse("  Ada ").unwrap().as_str(), "Ada");
/// assert!(Nickname::parse(" ").is_err());
/// ```
#[macro_export]
macro_rules! text_value {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident { rule: $rule:path, error: $error:ty = $map:expr $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize,
            ::serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        $vis struct $name(String);

        impl $name {
            /// Parses the value as given, by the type's rule.
            pub fn parse(raw: &str) -> ::std::result::Result<Self, $error> {
                match $rule(raw) {
                    Ok(value) => Ok($name(::std::string::String::from(value))),
                    Err(error) => Err(($map)(error)),
                }
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::convert::TryFrom<String> for $name {
            type Error = $error;
            fn try_from(value: String) -> ::std::result::Result<Self, Self::Error> {
                $name::parse(&value)
            }
        }

        impl ::std::convert::From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
