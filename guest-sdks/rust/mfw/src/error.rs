//! Step errors.

use std::fmt;

/// Why a step failed. Any `std::error::Error` converts into it with `?`, so
/// a step can use `?` on I/O, parsing and artifact errors alike.
///
/// ```
/// let err = mfw::Error::msg("no data for 2026-11-28");
/// assert_eq!(err.to_string(), "no data for 2026-11-28");
/// let parsed: Result<u32, mfw::Error> = "x".parse::<u32>().map_err(Into::into);
/// assert_eq!(parsed.unwrap_err().kind(), "ParseIntError");
/// ```
pub struct Error {
    kind: String,
    message: String,
    detail: String,
}

/// What a step returns.
pub type StepResult = Result<(), Error>;

impl Error {
    /// An error with a message, of kind `Error`.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::with_kind("Error", message)
    }

    /// An error of a given kind (shown like an exception class).
    pub fn with_kind(kind: &str, message: impl fmt::Display) -> Self {
        Self {
            kind: kind.to_string(),
            message: message.to_string(),
            detail: String::new(),
        }
    }

    /// The kind, such as `ParseIntError` or `ArtifactNotFound`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The chain of causes, one per line.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    #[doc(hidden)]
    pub fn unknown_step(step: &str) -> Self {
        Self::with_kind(
            "UnknownStep",
            format!("this component has no step `{step}`"),
        )
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(error: E) -> Self {
        let full = std::any::type_name::<E>();
        let kind = full
            .split('<')
            .next()
            .and_then(|path| path.rsplit("::").next())
            .unwrap_or(full);
        let mut detail = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            detail.push(format!("caused by: {cause}"));
            source = cause.source();
        }
        Self {
            kind: kind.to_string(),
            message: error.to_string(),
            detail: detail.join("\n"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        if !self.detail.is_empty() {
            write!(f, "\n{}", self.detail)?;
        }
        Ok(())
    }
}
