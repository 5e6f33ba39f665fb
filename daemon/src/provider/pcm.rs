//! Raw PCM from providers (`audio/L16;rate=24000`, as Gemini TTS and ElevenLabs'
//! `pcm_*` formats send it) becomes a WAV file when it is written, so every consumer
//! (the generate route, the sales-video voices) gets a file players and decoders read.

use std::io::Cursor;

/// Whether `mime` names headerless 16-bit PCM.
pub fn is_raw_pcm(mime: &str) -> bool {
    mime.split(';')
        .next()
        .is_some_and(|bare| bare.trim().eq_ignore_ascii_case("audio/l16"))
}

/// Signed 16-bit little-endian PCM wrapped in a WAV header, with the rate and channels
/// of `mime`'s parameters (24 kHz mono when it names none).
pub fn to_wav(mime: &str, pcm: &[u8]) -> std::io::Result<Vec<u8>> {
    let parameter = |name: &str| {
        mime.split(';')
            .filter_map(|part| part.trim().split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.trim().parse::<u32>().ok())
    };
    let spec = hound::WavSpec {
        channels: parameter("channels").unwrap_or(1).clamp(1, 8) as u16,
        sample_rate: parameter("rate").unwrap_or(24_000).clamp(8_000, 192_000),
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(pcm.len() + 44));
    {
        let mut writer = hound::WavWriter::new(&mut out, spec).map_err(std::io::Error::other)?;
        let mut samples = writer.get_i16_writer((pcm.len() / 2) as u32);
        for pair in pcm.chunks_exact(2) {
            samples.write_sample(i16::from_le_bytes([pair[0], pair[1]]));
        }
        samples.flush().map_err(std::io::Error::other)?;
        writer.finalize().map_err(std::io::Error::other)?;
    }
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_pcm_becomes_a_wav_with_its_rate() {
        assert!(is_raw_pcm("audio/L16;codec=pcm;rate=24000"));
        assert!(!is_raw_pcm("audio/wav"));
        let samples: Vec<u8> = (0..2400i16).flat_map(|s| (s * 10).to_le_bytes()).collect();
        let wav = to_wav("audio/L16;codec=pcm;rate=16000", &samples).expect("wav");
        let reader = hound::WavReader::new(Cursor::new(wav)).expect("reads");
        assert_eq!(reader.spec().sample_rate, 16_000);
        assert_eq!(reader.spec().channels, 1);
        assert_eq!(reader.duration(), 2400);
        let back: Vec<i16> = reader.into_samples().map(|s| s.expect("sample")).collect();
        assert_eq!(back[1], 10);
    }
}
