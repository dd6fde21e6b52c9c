//! The fuzz targets, one module per crate whose parsers they drive.

pub mod message;
pub mod smtp;
pub mod template;
