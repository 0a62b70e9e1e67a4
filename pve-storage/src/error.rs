//! The storage layer's error type.

/// Errors of the storage layer. The texts are upstream's `die` messages without the
/// trailing newline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// `storage 'x' does not exist`
    #[error("storage '{0}' does not exist")]
    NoSuchStorage(String),
    /// Any other refusal or failure, with upstream's text.
    #[error("{0}")]
    Msg(String),
}

impl StorageError {
    pub fn msg(text: impl Into<String>) -> Self {
        let text = text.into();
        StorageError::Msg(text.trim_end_matches('\n').to_string())
    }
}

impl From<std::io::Error> for StorageError {
    fn from(e: std::io::Error) -> Self {
        StorageError::Msg(e.to_string())
    }
}

impl From<StorageError> for pve_common::api::ApiError {
    fn from(e: StorageError) -> Self {
        pve_common::api::ApiError::internal(format!("{e}\n"))
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
