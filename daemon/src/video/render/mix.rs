//! The soundtrack: each voice at the start of its slot (cut at the slot's end), over
//! music looped to the video's length, ducked while someone speaks (a side-chain on the
//! voices' level), faded in and out, with a soft limiter against clipping. All audio is
//! interleaved 48 kHz stereo f32.

use super::audio::{CHANNELS, RATE};
use super::plan::MixSettings;

/// Level above which a voice counts as speaking (about -40 dBFS RMS).
const SPEECH_RMS: f32 = 0.01;
/// Level blocks are this many frames (10 ms).
const BLOCK: usize = (RATE / 100) as usize;
/// Ducking holds this many blocks after speech stops (gaps between words).
const HOLD_BLOCKS: usize = 30;
/// Ducking goes down within about 80 ms and comes back within about 400 ms.
const ATTACK_BLOCKS: f32 = 8.0;
const RELEASE_BLOCKS: f32 = 40.0;
/// Cut voices and music loops fade over 15 ms, so nothing clicks.
const EDGE_FRAMES: usize = (RATE as usize * 15) / 1000;
/// The music fades in over half a second.
const FADE_IN_SECONDS: f64 = 0.5;

/// A silent track of `total_seconds` (interleaved 48 kHz stereo f32).
pub fn silence(total_seconds: f64) -> Vec<f32> {
    vec![0f32; seconds_to_frames(total_seconds) * CHANNELS]
}

/// Adds `voice` to `track` at `start` seconds, cut (with a short fade) after `length`.
pub fn place_voice(track: &mut [f32], start: f64, length: f64, voice: &[f32]) {
    let frames = track.len() / CHANNELS;
    let offset = seconds_to_frames(start);
    let room = seconds_to_frames(length).min(frames.saturating_sub(offset));
    let available = voice.len() / CHANNELS;
    let used = available.min(room);
    let cut = available > room;
    for frame in 0..used {
        let fade = if cut {
            edge_gain(used - 1 - frame)
        } else {
            1.0
        };
        for channel in 0..CHANNELS {
            track[(offset + frame) * CHANNELS + channel] +=
                voice[frame * CHANNELS + channel] * fade;
        }
    }
}

/// Adds `music` under the voices already in `track`: looped to the track's length,
/// ducked while they speak, faded in at the start and out at the end.
pub fn add_music(track: &mut [f32], music: &[f32], settings: &MixSettings) {
    let frames = track.len() / CHANNELS;
    let music_frames = music.len() / CHANNELS;
    if music_frames == 0 || frames == 0 {
        return;
    }
    let gains = ducking(track, frames, settings.duck_db);
    let total_seconds = frames as f64 / f64::from(RATE);
    let fade_in = seconds_to_frames(FADE_IN_SECONDS).max(1);
    let fade_out = seconds_to_frames(settings.fade_out_seconds.min(total_seconds / 2.0));
    let volume = settings.music_volume as f32;
    for frame in 0..frames {
        let looped = frame % music_frames;
        let seam = if music_frames < frames {
            edge_gain(looped).min(edge_gain(music_frames - 1 - looped))
        } else {
            1.0
        };
        let ramp_in = (frame as f32 / fade_in as f32).min(1.0);
        let ramp_out = if fade_out == 0 {
            1.0
        } else {
            ((frames - frame) as f32 / fade_out as f32).min(1.0)
        };
        let block = frame / BLOCK;
        let duck = interpolate(&gains, block, (frame % BLOCK) as f32 / BLOCK as f32);
        let gain = volume * duck * seam * ramp_in * ramp_out;
        for channel in 0..CHANNELS {
            track[frame * CHANNELS + channel] += music[looped * CHANNELS + channel] * gain;
        }
    }
}

/// Bends peaks above 0.9 smoothly under 1, so the sum never clips.
pub fn limit(track: &mut [f32]) {
    for value in track {
        *value = soft_limit(*value);
    }
}

/// Frames (per channel) in `seconds`.
pub fn seconds_to_frames(seconds: f64) -> usize {
    (seconds.max(0.0) * f64::from(RATE)).round() as usize
}

/// The music's gain per 10 ms block: 1 in silence, `duck_db` under speech, smoothed.
fn ducking(speech: &[f32], frames: usize, duck_db: f64) -> Vec<f32> {
    let ducked = 10f32.powf(duck_db as f32 / 20.0);
    let blocks = frames.div_ceil(BLOCK);
    let mut gains = Vec::with_capacity(blocks);
    let mut gain = 1.0f32;
    let mut hold = 0usize;
    for block in 0..blocks {
        let from = block * BLOCK * CHANNELS;
        let to = ((block + 1) * BLOCK * CHANNELS).min(speech.len());
        let chunk = &speech[from..to];
        let rms = (chunk.iter().map(|s| s * s).sum::<f32>() / chunk.len().max(1) as f32).sqrt();
        if rms > SPEECH_RMS {
            hold = HOLD_BLOCKS;
        } else {
            hold = hold.saturating_sub(1);
        }
        let target = if hold > 0 { ducked } else { 1.0 };
        let speed = if target < gain {
            ATTACK_BLOCKS
        } else {
            RELEASE_BLOCKS
        };
        gain += (target - gain) / speed;
        gains.push(gain);
    }
    gains
}

fn interpolate(gains: &[f32], block: usize, within: f32) -> f32 {
    let here = gains.get(block).copied().unwrap_or(1.0);
    let next = gains.get(block + 1).copied().unwrap_or(here);
    here + (next - here) * within
}

/// Gain near a cut: 0 at the edge, 1 after [`EDGE_FRAMES`].
fn edge_gain(frames_from_edge: usize) -> f32 {
    (frames_from_edge as f32 / EDGE_FRAMES as f32).min(1.0)
}

/// Leaves samples under 0.9 alone and bends louder ones smoothly towards 1.
fn soft_limit(value: f32) -> f32 {
    let level = value.abs();
    if level <= 0.9 {
        value
    } else {
        value.signum() * (0.9 + 0.1 * ((level - 0.9) / 0.1).tanh())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn tone(seconds: f64, level: f32) -> Vec<f32> {
        let frames = seconds_to_frames(seconds);
        (0..frames * CHANNELS)
            .map(|i| level * ((i / CHANNELS) as f32 * 0.05).sin())
            .collect()
    }

    fn rms(samples: &[f32], from: f64, to: f64) -> f32 {
        let part = &samples[seconds_to_frames(from) * CHANNELS..seconds_to_frames(to) * CHANNELS];
        (part.iter().map(|s| s * s).sum::<f32>() / part.len() as f32).sqrt()
    }

    #[test]
    fn voices_start_at_their_slots_and_music_ducks_under_them() {
        let settings = MixSettings {
            music_volume: 1.0,
            duck_db: -20.0,
            fade_out_seconds: 0.5,
        };
        // Slot 1 (0–2 s) is silent, slot 2 (2–4 s) has a voice; music runs throughout.
        let mut out = silence(4.0);
        place_voice(&mut out, 2.0, 2.0, &tone(1.5, 0.5));
        add_music(&mut out, &tone(1.0, 0.2), &settings);
        limit(&mut out);
        assert_eq!(out.len(), seconds_to_frames(4.0) * CHANNELS);
        let open = rms(&out, 0.8, 1.8);
        assert!(
            (open - 0.2 / 2f32.sqrt()).abs() < 0.02,
            "music alone {open}"
        );
        let under = rms(&out, 2.5, 3.4);
        let voice_alone = 0.5 / 2f32.sqrt();
        assert!(
            (under - voice_alone).abs() < 0.02,
            "voice {under} with music ducked by 20 dB"
        );
        // The music comes back after the voice and fades out at the very end.
        assert!(rms(&out, 3.95, 4.0) < 0.02);
    }

    #[test]
    fn a_voice_longer_than_its_slot_is_cut_and_loud_peaks_are_limited() {
        let mut out = silence(4.0);
        place_voice(&mut out, 0.0, 1.0, &tone(3.0, 1.6));
        limit(&mut out);
        assert!(rms(&out, 1.0, 4.0) == 0.0, "nothing spills into slot 2");
        assert!(out.iter().all(|s| s.abs() <= 1.0));
    }
}
