//! Converts the Silero voice activity detector (the 16 kHz safetensors file of the PyPI
//! package `silero-vad`) into the ggml file whisper.cpp's VAD loads, and checks such a
//! file completely before whisper.cpp is given it.
//!
//! # Input
//! `silero_vad_16k.safetensors`: fifteen f32 tensors, `stft_conv.weight` [258, 1, 256],
//! `conv1`..`conv4` weights [out, in, 3] and biases, `lstm_cell.weight_ih`/`weight_hh`
//! [512, 128], `bias_ih`/`bias_hh` [512], `final_conv.weight` [1, 128, 1] and its bias [1].
//!
//! # Output (whisper.cpp's `whisper_vad_init_with_params`)
//! i32 magic "ggml"; i32 length + the model type `silero-16k`; i32 major, minor, patch;
//! i32 window (512 samples) and context (64); i32 encoder layer count (4) and per layer
//! i32 in channels, out channels, kernel size; i32 LSTM input and hidden size; i32 final
//! conv in and out. Then each tensor: i32 rank, i32 name length, i32 type (0 f32, 1 f16),
//! the dims innermost first, the name (whisper.cpp's `_model.…` names) and the data. Conv
//! weights and the STFT basis are f16, the rest f32, as the loader allocates them.
//!
//! whisper.cpp trusts this file: a wrong rank, name length or type number makes it read
//! out of bounds or abort. [`check_ggml`] therefore parses the whole file against the one
//! [`TENSORS`] table the writer uses, before a path ever crosses into C++.

use std::path::{Path, PathBuf};

use half::f16;
use safetensors::{Dtype, SafeTensors};

use crate::spool::fsutil;

/// Magic number of ggml files ("ggml", little-endian).
const GGML_MAGIC: u32 = 0x6767_6d6c;
/// The model type whisper.cpp logs.
const MODEL_TYPE: &[u8] = b"silero-16k";
/// The `silero-vad` release the weights come from.
pub const SILERO_VERSION: [i32; 3] = [6, 2, 3];
/// Samples per VAD window at 16 kHz, and the context carried between windows.
const WINDOW: i32 = 512;
const CONTEXT: i32 = 64;
/// Encoder layers: (in channels, out channels, kernel size).
const ENCODER: [(i32, i32, i32); 4] = [(129, 128, 3), (128, 64, 3), (64, 64, 3), (64, 128, 3)];
/// LSTM input and hidden size; final conv in and out channels.
const LSTM: (i32, i32) = (128, 128);
const FINAL_CONV: (i32, i32) = (128, 1);
/// Largest input read (the real file is 1.2 MB, the ggml file 0.6 MB).
const MAX_FILE_BYTES: u64 = 16 << 20;

/// How a tensor is stored in the ggml file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    F32,
    F16,
}

impl Stored {
    fn ggml_type(self) -> i32 {
        match self {
            Stored::F32 => 0,
            Stored::F16 => 1,
        }
    }

    fn bytes(self) -> usize {
        match self {
            Stored::F32 => 4,
            Stored::F16 => 2,
        }
    }
}

/// One tensor: its safetensors name and shape, its ggml name, dims (innermost first)
/// and storage. Data order is the same in both files (row-major = innermost first).
struct TensorSpec {
    source: &'static str,
    source_shape: &'static [usize],
    ggml: &'static str,
    dims: &'static [i32],
    stored: Stored,
}

/// Every tensor, in the order they are written.
const TENSORS: [TensorSpec; 15] = [
    spec(
        "conv1.weight",
        &[128, 129, 3],
        "_model.encoder.0.reparam_conv.weight",
        &[3, 129, 128],
        Stored::F16,
    ),
    spec(
        "conv1.bias",
        &[128],
        "_model.encoder.0.reparam_conv.bias",
        &[128],
        Stored::F32,
    ),
    spec(
        "conv2.weight",
        &[64, 128, 3],
        "_model.encoder.1.reparam_conv.weight",
        &[3, 128, 64],
        Stored::F16,
    ),
    spec(
        "conv2.bias",
        &[64],
        "_model.encoder.1.reparam_conv.bias",
        &[64],
        Stored::F32,
    ),
    spec(
        "conv3.weight",
        &[64, 64, 3],
        "_model.encoder.2.reparam_conv.weight",
        &[3, 64, 64],
        Stored::F16,
    ),
    spec(
        "conv3.bias",
        &[64],
        "_model.encoder.2.reparam_conv.bias",
        &[64],
        Stored::F32,
    ),
    spec(
        "conv4.weight",
        &[128, 64, 3],
        "_model.encoder.3.reparam_conv.weight",
        &[3, 64, 128],
        Stored::F16,
    ),
    spec(
        "conv4.bias",
        &[128],
        "_model.encoder.3.reparam_conv.bias",
        &[128],
        Stored::F32,
    ),
    spec(
        "lstm_cell.weight_ih",
        &[512, 128],
        "_model.decoder.rnn.weight_ih",
        &[128, 512],
        Stored::F32,
    ),
    spec(
        "lstm_cell.weight_hh",
        &[512, 128],
        "_model.decoder.rnn.weight_hh",
        &[128, 512],
        Stored::F32,
    ),
    spec(
        "lstm_cell.bias_ih",
        &[512],
        "_model.decoder.rnn.bias_ih",
        &[512],
        Stored::F32,
    ),
    spec(
        "lstm_cell.bias_hh",
        &[512],
        "_model.decoder.rnn.bias_hh",
        &[512],
        Stored::F32,
    ),
    spec(
        "final_conv.weight",
        &[1, 128, 1],
        "_model.decoder.decoder.2.weight",
        &[128, 1],
        Stored::F16,
    ),
    spec(
        "final_conv.bias",
        &[1],
        "_model.decoder.decoder.2.bias",
        &[1],
        Stored::F32,
    ),
    spec(
        "stft_conv.weight",
        &[258, 1, 256],
        "_model.stft.forward_basis_buffer",
        &[256, 1, 258],
        Stored::F16,
    ),
];

const fn spec(
    source: &'static str,
    source_shape: &'static [usize],
    ggml: &'static str,
    dims: &'static [i32],
    stored: Stored,
) -> TensorSpec {
    TensorSpec {
        source,
        source_shape,
        ggml,
        dims,
        stored,
    }
}

impl TensorSpec {
    fn elements(&self) -> usize {
        self.source_shape.iter().product()
    }
}

/// Why a Silero model could not be converted or is not a usable ggml VAD model.
#[derive(Debug, thiserror::Error)]
pub enum SileroError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not what it should be.
    #[error("{path} is not a Silero VAD model: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn read_limited(path: &Path) -> Result<Vec<u8>, SileroError> {
    let io = |source| SileroError::Io {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(SileroError::Invalid {
            path: path.to_owned(),
            reason: format!("{size} bytes is far larger than the model ({MAX_FILE_BYTES} at most)"),
        });
    }
    std::fs::read(path).map_err(io)
}

/// The ggml file for the safetensors bytes `bytes` (read from `path`, for errors).
pub fn ggml_from_safetensors(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, SileroError> {
    let invalid = |reason: String| SileroError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let tensors = SafeTensors::deserialize(bytes)
        .map_err(|error| invalid(format!("not a safetensors file ({error})")))?;
    let known: Vec<&str> = TENSORS.iter().map(|tensor| tensor.source).collect();
    if let Some(extra) = tensors
        .names()
        .into_iter()
        .find(|name| !known.contains(name))
    {
        return Err(invalid(format!("unexpected tensor {extra:?}")));
    }
    let mut out = header();
    for spec in &TENSORS {
        let tensor = tensors
            .tensor(spec.source)
            .map_err(|_| invalid(format!("tensor {:?} is missing", spec.source)))?;
        if tensor.dtype() != Dtype::F32 {
            return Err(invalid(format!(
                "tensor {:?} is {:?}, expected F32",
                spec.source,
                tensor.dtype()
            )));
        }
        if tensor.shape() != spec.source_shape {
            return Err(invalid(format!(
                "tensor {:?} has shape {:?}, expected {:?}",
                spec.source,
                tensor.shape(),
                spec.source_shape
            )));
        }
        let values = tensor
            .data()
            .chunks_exact(4)
            .map(|bytes| f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
        if let Some(bad) = values.clone().find(|value| !value.is_finite()) {
            return Err(invalid(format!("tensor {:?} holds {bad}", spec.source)));
        }
        tensor_header(&mut out, spec);
        match spec.stored {
            Stored::F32 => out.extend_from_slice(tensor.data()),
            Stored::F16 => {
                for value in values {
                    out.extend_from_slice(&f16::from_f32(value).to_le_bytes());
                }
            }
        }
    }
    Ok(out)
}

fn put(out: &mut Vec<u8>, value: i32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn header() -> Vec<u8> {
    let mut out = Vec::with_capacity(700_000);
    out.extend_from_slice(&GGML_MAGIC.to_le_bytes());
    put(&mut out, MODEL_TYPE.len() as i32);
    out.extend_from_slice(MODEL_TYPE);
    for part in SILERO_VERSION {
        put(&mut out, part);
    }
    put(&mut out, WINDOW);
    put(&mut out, CONTEXT);
    put(&mut out, ENCODER.len() as i32);
    for (input, output, kernel) in ENCODER {
        put(&mut out, input);
        put(&mut out, output);
        put(&mut out, kernel);
    }
    for value in [LSTM.0, LSTM.1, FINAL_CONV.0, FINAL_CONV.1] {
        put(&mut out, value);
    }
    out
}

fn tensor_header(out: &mut Vec<u8>, spec: &TensorSpec) {
    put(out, spec.dims.len() as i32);
    put(out, spec.ggml.len() as i32);
    put(out, spec.stored.ggml_type());
    for dim in spec.dims {
        put(out, *dim);
    }
    out.extend_from_slice(spec.ggml.as_bytes());
}

/// Checks that `path` is exactly a ggml Silero model as [`convert`] writes it: the
/// header, every tensor once with its rank, dims, type and size, nothing after the last.
/// Only a file that passes is handed to whisper.cpp.
pub fn check_ggml(path: &Path) -> Result<(), SileroError> {
    let bytes = read_limited(path)?;
    check_ggml_bytes(&bytes).map_err(|reason| SileroError::Invalid {
        path: path.to_owned(),
        reason,
    })
}

fn check_ggml_bytes(bytes: &[u8]) -> Result<(), String> {
    let expected = header();
    if bytes.len() < 4 || bytes[..4] != expected[..4] {
        return Err("not a ggml file (wrong magic number)".into());
    }
    // The release (three i32 after the type) may differ; the layout may not.
    let version_at = 8 + MODEL_TYPE.len();
    if bytes.len() < expected.len()
        || bytes[..version_at] != expected[..version_at]
        || bytes[version_at + 12..expected.len()] != expected[version_at + 12..]
    {
        return Err("the header is not silero-16k with the expected window and layers".to_owned());
    }
    let mut at = expected.len();
    let mut seen = [false; TENSORS.len()];
    while at < bytes.len() {
        let index = TENSORS
            .iter()
            .position(|spec| {
                let mut wanted = Vec::new();
                tensor_header(&mut wanted, spec);
                bytes[at..].starts_with(&wanted)
            })
            .ok_or_else(|| format!("unexpected tensor header at byte {at}"))?;
        if std::mem::replace(&mut seen[index], true) {
            return Err(format!("tensor {} appears twice", TENSORS[index].ggml));
        }
        let spec = &TENSORS[index];
        let mut wanted = Vec::new();
        tensor_header(&mut wanted, spec);
        at += wanted.len() + spec.elements() * spec.stored.bytes();
        if at > bytes.len() {
            return Err(format!("tensor {} is cut short", spec.ggml));
        }
    }
    if let Some(missing) = TENSORS.iter().zip(seen).find(|(_, seen)| !seen) {
        return Err(format!("tensor {} is missing", missing.0.ggml));
    }
    Ok(())
}

/// Converts the safetensors file `source` into the ggml file `output` (written to a
/// temporary file beside it, fsynced and renamed into place). Returns its size.
pub fn convert(source: &Path, output: &Path) -> Result<u64, SileroError> {
    let bytes = read_limited(source)?;
    let ggml = ggml_from_safetensors(source, &bytes)?;
    let io = |source| SileroError::Io {
        path: output.to_owned(),
        source,
    };
    let dir = output
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    fsutil::write_atomic(output, &ggml, true).map_err(io)?;
    fsutil::sync_dir(dir).map_err(io)?;
    Ok(ggml.len() as u64)
}

/// Converts `source` into `output` unless `output` exists or `source` does not.
/// Returns whether it converted.
pub fn convert_if_missing(source: &Path, output: &Path) -> Result<bool, SileroError> {
    if output.exists() || !source.exists() {
        return Ok(false);
    }
    tracing::info!(from = %source.display(), to = %output.display(), "Converting the Silero VAD model for whisper.cpp (once).");
    convert(source, output).map(|_| true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A safetensors file with every tensor of the right shape (values from `fill`).
    fn fake_safetensors(skip: Option<&str>) -> Vec<u8> {
        let data: Vec<(String, Vec<u8>, Vec<usize>)> = TENSORS
            .iter()
            .filter(|spec| Some(spec.source) != skip)
            .map(|spec| {
                let bytes = (0..spec.elements())
                    .flat_map(|index| ((index % 7) as f32 * 0.25).to_le_bytes())
                    .collect();
                (spec.source.to_owned(), bytes, spec.source_shape.to_vec())
            })
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = data
            .iter()
            .map(|(name, bytes, shape)| {
                let view =
                    safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes).unwrap();
                (name.clone(), view)
            })
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    #[test]
    fn a_converted_model_passes_the_check_and_damage_does_not() {
        let ggml = ggml_from_safetensors(Path::new("x"), &fake_safetensors(None)).unwrap();
        check_ggml_bytes(&ggml).unwrap();
        // conv1.weight [128,129,3] becomes f16 with dims innermost first.
        let mut wanted = Vec::new();
        tensor_header(&mut wanted, &TENSORS[0]);
        assert_eq!(
            ggml[header().len()..].get(..wanted.len()),
            Some(&wanted[..])
        );
        assert!(
            check_ggml_bytes(&ggml[..ggml.len() - 1])
                .unwrap_err()
                .contains("cut short")
        );
        let mut extra = ggml.clone();
        extra.extend_from_slice(&[0; 12]);
        assert!(
            check_ggml_bytes(&extra)
                .unwrap_err()
                .contains("unexpected tensor header")
        );
        let mut bad_type = ggml.clone();
        // The first tensor's type number (after rank and name length).
        let type_at = header().len() + 8;
        bad_type[type_at..type_at + 4].copy_from_slice(&99i32.to_le_bytes());
        assert!(check_ggml_bytes(&bad_type).is_err());
        let mut bad_layers = ggml.clone();
        let layers_at = 4 + 4 + MODEL_TYPE.len() + 12 + 8;
        bad_layers[layers_at..layers_at + 4].copy_from_slice(&1000i32.to_le_bytes());
        assert!(
            check_ggml_bytes(&bad_layers)
                .unwrap_err()
                .contains("header")
        );
        assert!(check_ggml_bytes(b"GGUF....").unwrap_err().contains("magic"));
    }

    #[test]
    fn a_wrong_safetensors_file_is_refused_with_the_tensor_named() {
        let error = ggml_from_safetensors(Path::new("m"), &fake_safetensors(Some("conv3.bias")))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("conv3.bias") && error.contains("missing"),
            "{error}"
        );
        let error = ggml_from_safetensors(Path::new("m"), b"\x10\0\0\0\0\0\0\0{not json}")
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a safetensors file"), "{error}");
    }
}
