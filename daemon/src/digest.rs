//! Digests as text: one spelling of a checksum for model pulls, plugin files and key
//! fingerprints.

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
