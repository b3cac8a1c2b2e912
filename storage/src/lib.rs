//! Where bytes are kept: the object store window files live in ([`WindowStore`]: a local folder
//! by default, any S3-compatible store when configured), and [`durable`] local files that a
//! crash must not tear.

pub mod durable;
mod local_read;
mod store;

pub use store::{
    ObjectInfo, StorageConfig, StoreError, WindowStore, DEFAULT_STORAGE_PATH,
    DEFAULT_STORE_TIMEOUT_S,
};
