//! Joining LINEAR16 answers: each is a WAV file; their PCM goes under one header.

use chute_plugin_sdk::ProviderError;

/// The `fmt ` chunk's body and the `data` chunk of one WAV file.
fn chunks(file: &[u8]) -> Result<(&[u8], &[u8]), ProviderError> {
    let bad =
        |why: &str| ProviderError::Other(format!("the LINEAR16 answer is not a WAV file: {why}"));
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

/// One WAV file holding the PCM of every file in `files`, which must share a format.
pub fn join(files: &[Vec<u8>]) -> Result<Vec<u8>, ProviderError> {
    let mut format: Option<&[u8]> = None;
    let mut pcm = Vec::new();
    for file in files {
        let (this, data) = chunks(file)?;
        match format {
            Some(first) if first != this => {
                return Err(ProviderError::Other(
                    "the LINEAR16 answers differ in format".into(),
                ));
            }
            _ => format = Some(this),
        }
        pcm.extend_from_slice(data);
    }
    let format = format.ok_or_else(|| ProviderError::Other("no audio to join".into()))?;
    let total = 4 + (8 + format.len()) + (8 + pcm.len());
    let too_big = || ProviderError::Other("the joined audio is over 4 GiB".into());
    let mut out = Vec::with_capacity(total + 8);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&u32::try_from(total).map_err(|_| too_big())?.to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(
        &u32::try_from(format.len())
            .map_err(|_| too_big())?
            .to_le_bytes(),
    );
    out.extend_from_slice(format);
    out.extend_from_slice(b"data");
    out.extend_from_slice(
        &u32::try_from(pcm.len())
            .map_err(|_| too_big())?
            .to_le_bytes(),
    );
    out.extend_from_slice(&pcm);
    Ok(out)
}
