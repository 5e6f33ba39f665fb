//! WAV files from providers: joining several answers' PCM under one header (a long
//! text spoken in pieces), and how long one lasts.

use crate::ProviderError;

/// The `fmt ` chunk's body and the `data` chunk of one WAV file.
pub fn chunks(file: &[u8]) -> Result<(&[u8], &[u8]), ProviderError> {
    let bad = |why: &str| ProviderError::Other(format!("the answer is not a WAV file: {why}"));
    if !(file.starts_with(b"RIFF") && file.get(8..12) == Some(b"WAVE")) {
        return Err(bad("no RIFF/WAVE header"));
    }
    let mut at = 12;
    let mut format = None;
    while at + 8 <= file.len() {
        let id = &file[at..at + 4];
        let mut size = [0u8; 4];
        size.copy_from_slice(&file[at + 4..at + 8]);
        let size = u32::from_le_bytes(size) as usize;
        let body = at + 8;
        // Streams write 0 or 0xFFFFFFFF for an unknown data length: take the rest.
        let end = body.saturating_add(size).min(file.len());
        match id {
            b"fmt " => format = Some(&file[body..end]),
            b"data" => {
                let format = format.ok_or_else(|| bad("data before fmt"))?;
                let end = if size == 0 { file.len() } else { end };
                return Ok((format, &file[body..end]));
            }
            _ => {}
        }
        at = end + (size % 2);
    }
    Err(bad("no data chunk"))
}

/// One WAV file built from the PCM of several, which must share a format. The PCM is
/// appended as each answer arrives, so only one answer is held besides the result.
#[derive(Default)]
pub struct Joiner {
    format: Option<Vec<u8>>,
    out: Vec<u8>,
}

impl Joiner {
    /// Appends the PCM of `file`; `expected` is the PCM the whole result will likely
    /// hold (reserved once, so the result is not copied as it grows).
    pub fn push(&mut self, file: &[u8], expected: usize) -> Result<(), ProviderError> {
        let (format, data) = chunks(file)?;
        match &self.format {
            Some(first) if first.as_slice() != format => {
                return Err(ProviderError::Other(
                    "the WAV answers differ in format".into(),
                ));
            }
            Some(_) => {}
            None => {
                self.format = Some(format.to_vec());
                self.out.reserve_exact(20 + format.len() + 8 + expected);
                // The header's sizes are filled in by `finish`.
                self.out.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
                self.out.extend_from_slice(&size(format.len())?);
                self.out.extend_from_slice(format);
                self.out.extend_from_slice(b"data\0\0\0\0");
            }
        }
        self.out.extend_from_slice(data);
        Ok(())
    }

    /// The joined WAV file.
    pub fn finish(mut self) -> Result<Vec<u8>, ProviderError> {
        let format = self
            .format
            .ok_or_else(|| ProviderError::Other("no audio to join".into()))?;
        let riff = size(self.out.len() - 8)?;
        let data_at = 20 + format.len();
        let data = size(self.out.len() - data_at - 8)?;
        self.out[4..8].copy_from_slice(&riff);
        self.out[data_at + 4..data_at + 8].copy_from_slice(&data);
        Ok(self.out)
    }
}

/// How long the WAV file `file` lasts, from its `fmt ` chunk's byte rate.
pub fn seconds(file: &[u8]) -> Result<f64, ProviderError> {
    let (format, data) = chunks(file)?;
    let byte_rate = format
        .get(8..12)
        .map(|bytes| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        .filter(|rate| *rate > 0)
        .ok_or_else(|| ProviderError::Other("the WAV answer has no byte rate".into()))?;
    Ok(data.len() as f64 / f64::from(byte_rate))
}

/// A chunk size field.
fn size(length: usize) -> Result<[u8; 4], ProviderError> {
    u32::try_from(length)
        .map(u32::to_le_bytes)
        .map_err(|_| ProviderError::Other("the joined audio is over 4 GiB".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16-bit mono WAV at 24 kHz holding `pcm`.
    fn wav(pcm: &[u8]) -> Vec<u8> {
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&((36 + pcm.len()) as u32).to_le_bytes());
        file.extend_from_slice(b"WAVEfmt ");
        file.extend_from_slice(&16u32.to_le_bytes());
        file.extend_from_slice(&[1, 0, 1, 0]);
        file.extend_from_slice(&24_000u32.to_le_bytes());
        file.extend_from_slice(&48_000u32.to_le_bytes());
        file.extend_from_slice(&[2, 0, 16, 0]);
        file.extend_from_slice(b"data");
        file.extend_from_slice(&(pcm.len() as u32).to_le_bytes());
        file.extend_from_slice(pcm);
        file
    }

    #[test]
    fn joined_files_are_one_wav_of_all_the_pcm() {
        let mut joiner = Joiner::default();
        assert!(joiner.push(&wav(&[1, 2, 3, 4]), 8).is_ok());
        assert!(joiner.push(&wav(&[5, 6]), 8).is_ok());
        let joined = joiner.finish().unwrap_or_default();
        assert_eq!(joined, wav(&[1, 2, 3, 4, 5, 6]));
        assert!(Joiner::default().push(b"not a wav", 0).is_err());
        // 24 kHz, 16-bit mono: 48,000 bytes a second.
        let second = wav(&vec![0; 48_000]);
        assert!((seconds(&second).unwrap_or_default() - 1.0).abs() < 1e-9);
    }
}
