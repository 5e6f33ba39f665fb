//! ggml's block quantizations of weight rows, byte for byte as ggml's reference
//! quantizers (`quantize_row_q8_0_ref`, `quantize_row_q5_0_ref`, `quantize_row_q5_1_ref`
//! in `ggml-quants.c`) write them, so whisper.cpp reads the blocks as its own.
//!
//! Every format cuts a row into blocks of [`BLOCK`] weights (ggml's `QK8_0`, `QK5_0`,
//! `QK5_1`); a block is laid out as ggml's C struct of the same name:
//! - `block_q8_0` (34 bytes): f16 scale `d`, then 32 × i8;
//! - `block_q5_0` (22 bytes): f16 `d`, u32 `qh` (the fifth bit of each weight, weight `j`
//!   at bit `j`), 16 bytes `qs` (byte `j` holds weight `j` in its low nibble and weight
//!   `j + 16` in its high one); a weight is `d × (q − 16)`;
//! - `block_q5_1` (24 bytes): f16 `d`, f16 min `m`, then `qh` and `qs` as in q5_0; a weight
//!   is `d × q + m`.

use half::f16;
use serde::{Deserialize, Serialize};

/// Weights per block, in every format here.
pub const BLOCK: usize = 32;

/// How the matrices of a converted whisper model are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Weights {
    /// Half precision (whisper.cpp's usual files).
    #[serde(rename = "f16")]
    F16,
    /// ggml's 8-bit blocks: 32 weights share one f16 scale (about half of f16's size).
    #[serde(rename = "q8_0")]
    Q8_0,
    /// ggml's 5-bit blocks with a scale and a minimum (about a third of f16's size).
    #[serde(rename = "q5_1")]
    Q5_1,
    /// ggml's 5-bit blocks with a scale only (the smallest here).
    #[serde(rename = "q5_0")]
    Q5_0,
}

impl Weights {
    /// The name used in config files and records (`f16`, `q8_0`, `q5_1`, `q5_0`).
    pub fn name(self) -> &'static str {
        match self {
            Self::F16 => "f16",
            Self::Q8_0 => "q8_0",
            Self::Q5_1 => "q5_1",
            Self::Q5_0 => "q5_0",
        }
    }

    /// ggml's `ftype` for a model stored this way (without the quantization version).
    pub fn ftype(self) -> u32 {
        match self {
            Self::F16 => 1,
            Self::Q8_0 => 7,
            Self::Q5_0 => 8,
            Self::Q5_1 => 9,
        }
    }

    /// The block format of the matrices, or `None` for f16.
    pub fn quantization(self) -> Option<Quantization> {
        match self {
            Self::F16 => None,
            Self::Q8_0 => Some(Quantization::Q8_0),
            Self::Q5_0 => Some(Quantization::Q5_0),
            Self::Q5_1 => Some(Quantization::Q5_1),
        }
    }
}

/// The name of a loaded model's ggml `ftype` (whisper.cpp reports it without the
/// quantization version): `f32`, `f16`, `q8_0`, … or `ftype N` for others.
pub fn ftype_name(ftype: i32) -> String {
    match ftype {
        0 => "f32".to_owned(),
        1 => "f16".to_owned(),
        2 => "q4_0".to_owned(),
        3 => "q4_1".to_owned(),
        7 => "q8_0".to_owned(),
        8 => "q5_0".to_owned(),
        9 => "q5_1".to_owned(),
        other => format!("ftype {other}"),
    }
}

/// One of ggml's block formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantization {
    /// `block_q8_0`.
    Q8_0,
    /// `block_q5_0`.
    Q5_0,
    /// `block_q5_1`.
    Q5_1,
}

impl Quantization {
    /// ggml's tensor type code (`GGML_TYPE_Q8_0` …) as a model file stores it.
    pub fn type_code(self) -> i32 {
        match self {
            Self::Q5_0 => 6,
            Self::Q5_1 => 7,
            Self::Q8_0 => 8,
        }
    }

    /// Bytes of one block.
    pub fn block_bytes(self) -> usize {
        match self {
            Self::Q8_0 => 2 + BLOCK,
            Self::Q5_0 => 2 + 4 + BLOCK / 2,
            Self::Q5_1 => 2 + 2 + 4 + BLOCK / 2,
        }
    }

    /// Appends the block for `values` to `out`.
    pub fn quantize_block(self, values: &[f32; BLOCK], out: &mut Vec<u8>) {
        match self {
            Self::Q8_0 => q8_0_block(values, out),
            Self::Q5_0 => q5_0_block(values, out),
            Self::Q5_1 => q5_1_block(values, out),
        }
    }
}

/// `1 / d`, or 0 for a zero scale (ggml's `d ? 1.0f/d : 0.0f`).
fn inverse(d: f32) -> f32 {
    if d != 0.0 { 1.0 / d } else { 0.0 }
}

/// `quantize_row_q8_0_ref`: `d = max|x| / 127`, each weight `round(x / d)`.
fn q8_0_block(values: &[f32; BLOCK], out: &mut Vec<u8>) {
    let amax = values.iter().fold(0f32, |max, v| max.max(v.abs()));
    let d = amax / 127.0;
    let id = inverse(d);
    out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
    // `as i8` saturates like the clamp ggml does not need: |x / d| <= 127.
    out.extend(values.iter().map(|value| (value * id).round() as i8 as u8));
}

/// The 5-bit values `q` of a block as q5_0/q5_1 store them: `qh`, then `qs`.
fn put_5_bit(quants: &[u8; BLOCK], out: &mut Vec<u8>) {
    let half = BLOCK / 2;
    let mut qh = 0u32;
    for (j, &q) in quants.iter().enumerate() {
        qh |= u32::from((q & 0x10) >> 4) << j;
    }
    out.extend_from_slice(&qh.to_le_bytes());
    out.extend((0..half).map(|j| (quants[j] & 0x0f) | ((quants[j + half] & 0x0f) << 4)));
}

/// `quantize_row_q5_0_ref`: the weight of largest magnitude `max` (the first one, with
/// its sign) gives `d = max / -16`; each weight `min(31, trunc(x / d + 16.5))`.
fn q5_0_block(values: &[f32; BLOCK], out: &mut Vec<u8>) {
    let (mut amax, mut max) = (0f32, 0f32);
    for &value in values {
        if amax < value.abs() {
            amax = value.abs();
            max = value;
        }
    }
    let d = max / -16.0;
    let id = inverse(d);
    out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
    // C's `(int8_t)` truncates toward zero, as `as i8` does (and saturates).
    let quants = values.map(|value| ((value * id + 16.5) as i8).clamp(0, 31) as u8);
    put_5_bit(&quants, out);
}

/// `quantize_row_q5_1_ref`: `d = (max − min) / 31`, the minimum `m = min`; each weight
/// `trunc((x − min) / d + 0.5)`.
fn q5_1_block(values: &[f32; BLOCK], out: &mut Vec<u8>) {
    let min = values.iter().fold(f32::MAX, |low, &v| low.min(v));
    let max = values.iter().fold(-f32::MAX, |high, &v| high.max(v));
    let d = (max - min) / 31.0;
    let id = inverse(d);
    out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
    out.extend_from_slice(&f16::from_f32(min).to_le_bytes());
    // C's `(uint8_t)` of a value in 0..=31.5; `as u8` truncates the same way.
    let quants = values.map(|value| ((value - min) * id + 0.5) as u8);
    put_5_bit(&quants, out);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn block(quantization: Quantization, values: [f32; BLOCK]) -> Vec<u8> {
        let mut out = Vec::new();
        quantization.quantize_block(&values, &mut out);
        assert_eq!(out.len(), quantization.block_bytes());
        out
    }

    /// Weights `j` and `j + 16` both quantized to `j` and `j + 16`: nibbles `j | j << 4`.
    fn ramp_nibbles() -> Vec<u8> {
        (0..16u8).map(|j| j | (j << 4)).collect()
    }

    #[test]
    fn q8_0_block_holds_the_scale_and_rounded_values() {
        let values = std::array::from_fn(|i| i as f32 - 16.0);
        let out = block(Quantization::Q8_0, values);
        // d = 16 / 127 = 0.125984…, as f16 0x3008.
        assert_eq!(&out[..2], &[0x08, 0x30]);
        assert_eq!(out[2] as i8, -127, "-16 is the largest magnitude");
        assert_eq!(out[2 + 16] as i8, 0);
        assert_eq!(
            out[2 + 24] as i8,
            64,
            "8 × 127 / 16 = 63.5 rounds away from zero"
        );
        assert_eq!(out[2 + 31] as i8, 119, "15 × 127 / 16 = 119.06");
        assert_eq!(block(Quantization::Q8_0, [0.0; BLOCK]), vec![0; 34]);
    }

    #[test]
    fn q5_0_block_matches_ggml_layout() {
        // max = -16 (first of largest magnitude) → d = 1.0 (f16 0x3c00); x + 16.5 → j for
        // the first half, 16 + j for the second: their fifth bits are set.
        let out = block(Quantization::Q5_0, std::array::from_fn(|i| i as f32 - 16.0));
        let mut expected = vec![0x00, 0x3c, 0x00, 0x00, 0xff, 0xff];
        expected.extend(ramp_nibbles());
        assert_eq!(out, expected);

        // A positive maximum gives a negative scale: d = 8 / -16 = -0.5 (f16 0xb800);
        // zeros become 16 (only the fifth bit), 8 becomes 0.
        let mut values = [0.0; BLOCK];
        values[5] = 8.0;
        let out = block(Quantization::Q5_0, values);
        let mut expected = vec![0x00, 0xb8, 0xdf, 0xff, 0xff, 0xff];
        expected.extend([0u8; 16]);
        assert_eq!(out, expected);

        // All zeros: d = 0 / -16 = -0.0 (f16 0x8000), every weight 16.
        let mut expected = vec![0x00, 0x80, 0xff, 0xff, 0xff, 0xff];
        expected.extend([0u8; 16]);
        assert_eq!(block(Quantization::Q5_0, [0.0; BLOCK]), expected);
    }

    #[test]
    fn q5_1_block_matches_ggml_layout() {
        // min -1, max 14.5 → d = 0.5 (f16 0x3800), m = -1 (f16 0xbc00); weight j → j.
        let out = block(
            Quantization::Q5_1,
            std::array::from_fn(|i| -1.0 + i as f32 * 0.5),
        );
        let mut expected = vec![0x00, 0x38, 0x00, 0xbc, 0x00, 0x00, 0xff, 0xff];
        expected.extend(ramp_nibbles());
        assert_eq!(out, expected);

        // Rounding is x + 0.5 truncated: 0.49 → 0, 0.5 → 1 (d = 1 from the 31 at the end).
        let mut values = [0.0; BLOCK];
        values[1] = 0.49;
        values[2] = 0.5;
        values[31] = 31.0;
        let out = block(Quantization::Q5_1, values);
        assert_eq!(&out[..4], &[0x00, 0x3c, 0x00, 0x00]);
        assert_eq!(
            &out[4..8],
            &[0x00, 0x00, 0x00, 0x80],
            "31 = 0b11111 at bit 31"
        );
        assert_eq!(out[8 + 1], 0x00);
        assert_eq!(out[8 + 2], 0x01);
        assert_eq!(
            out[8 + 15],
            0xf0,
            "weight 31's low nibble, high half of byte 15"
        );

        assert_eq!(block(Quantization::Q5_1, [0.0; BLOCK]), vec![0; 24]);
    }

    /// ggml's `dequantize_row_q5_0` / `_q5_1` of one block.
    fn dequantize(quantization: Quantization, bytes: &[u8]) -> [f32; BLOCK] {
        let d = f16::from_le_bytes([bytes[0], bytes[1]]).to_f32();
        let (m, rest) = match quantization {
            Quantization::Q5_1 => (
                f16::from_le_bytes([bytes[2], bytes[3]]).to_f32(),
                &bytes[4..],
            ),
            _ => (-16.0 * d, &bytes[2..]),
        };
        let qh = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        std::array::from_fn(|i| {
            let (byte, shift) = (rest[4 + i % 16], if i < 16 { 0 } else { 4 });
            let q = ((byte >> shift) & 0x0f) | ((((qh >> i) & 1) as u8) << 4);
            f32::from(q) * d + m
        })
    }

    #[test]
    fn five_bit_blocks_read_back_within_their_step() {
        // A fixed pseudo-random block (a linear congruential sequence in -1..1).
        let mut seed = 12345u32;
        let values: [f32; BLOCK] = std::array::from_fn(|_| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        });
        // q5_1 rounds to the nearest of 32 steps; q5_0's 32 steps are centred on zero,
        // so the weight opposite the largest one may land a whole step away.
        for (quantization, steps) in [(Quantization::Q5_0, 1.0), (Quantization::Q5_1, 0.5)] {
            let bytes = block(quantization, values);
            let d = f16::from_le_bytes([bytes[0], bytes[1]]).to_f32().abs();
            for (read, value) in dequantize(quantization, &bytes).iter().zip(values) {
                assert!(
                    (read - value).abs() <= d * steps + 2e-3,
                    "{quantization:?}: {value} read back as {read} (step {d})"
                );
            }
        }
    }

    #[test]
    fn names_and_codes_are_ggml_s() {
        assert_eq!(Weights::Q5_1.ftype(), 9);
        assert_eq!(Weights::Q5_0.ftype(), 8);
        assert_eq!(Quantization::Q5_0.type_code(), 6);
        assert_eq!(Quantization::Q5_1.type_code(), 7);
        for weights in [Weights::F16, Weights::Q8_0, Weights::Q5_1, Weights::Q5_0] {
            assert_eq!(ftype_name(weights.ftype() as i32), weights.name());
            let parsed: Weights = serde_json::from_str(&format!("\"{}\"", weights.name())).unwrap();
            assert_eq!(parsed, weights);
        }
    }
}
