//! Fuzz targets (filled in by the hardening work).

use crate::Target;

pub fn targets() -> Vec<Target> {
    Vec::new()
}
