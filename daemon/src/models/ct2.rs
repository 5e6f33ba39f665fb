//! Converts a faster-whisper (CTranslate2) whisper model into whisper.cpp's legacy ggml file.
//!
//! # Input: a CTranslate2 model folder
//! - `model.bin`, format version 6 holding a `WhisperSpec`: a header (u32 version, spec name,
//!   u32 revision), then named variables (rank, u32 dims, dtype, u32 byte count, raw
//!   little-endian data), then aliases (`decoder/projection/weight` is an alias of
//!   `decoder/embeddings/weight`). Strings are a u16 length (counting a trailing NUL) and
//!   the bytes. Rank-0 variables are scalar settings such as `encoder/num_heads`.
//! - `vocabulary.txt` (one token a line) or `vocabulary.json` (an array of strings): the
//!   byte-level BPE tokens in GPT-2's printable byte alphabet, followed by the special tokens.
//!
//! # Output: whisper.cpp's ggml file
//! u32 magic [`GGML_MAGIC`]; eleven i32 hyper-parameters ([`Hparams`]); the mel filter bank
//! (i32 n_mel, i32 n_fft bins, f32 weights); the vocabulary (i32 count, then u32 length and
//! raw bytes per token: only the BPE tokens before `<|endoftext|>`, whisper.cpp adds the
//! special and timestamp tokens itself); then the tensors until the end of the file, each as
//! i32 rank, i32 name length, i32 type (0 f32, 1 f16), the dims innermost first, the name and
//! the data. Matrices are f16; vectors, the conv biases (stored as `(n_state, 1)`) and both
//! positional embeddings are f32, as whisper.cpp's loader checks.
//!
//! # Mapping
//! CTranslate2 fuses some projections that whisper keeps apart: self-attention
//! `linear_0` stacks query, key and value by rows, cross-attention `linear_1` stacks key
//! and value. They are split; the key bias (whisper has none; it is zero in converted
//! models, and softmax ignores it anyway) is dropped. The output projection is tied to the
//! token embedding, so its alias produces no tensor.
//!
//! The whole `model.bin` is read into memory (75 MB for tiny) and the output is streamed
//! tensor by tensor into a temporary file that is fsynced and renamed over the target.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use half::{bf16, f16};

pub use super::quantize::Weights;
use super::quantize::{self, Quantization};
use crate::spool::fsutil;

/// Magic number that opens a whisper.cpp ggml model file (`"ggml"` as a little-endian u32).
pub const GGML_MAGIC: u32 = 0x6767_6d6c;

/// The CTranslate2 `model.bin` format version this converter reads.
pub const CT2_FORMAT_VERSION: u32 = 6;

/// Sample rate of whisper's audio front end (Hz).
const SAMPLE_RATE: u32 = 16_000;
/// FFT size of whisper's audio front end (25 ms at 16 kHz).
const N_FFT: usize = 400;
/// The first special token; every token before it is a byte-level BPE token.
const END_OF_TEXT: &str = "<|endoftext|>";
/// whisper.cpp's `ftype` for "all matrices in f16".
const FTYPE_MOSTLY_F16: u32 = 1;
/// ggml's quantization format version, stored in `ftype` as version × factor.
const GGML_QNT_VERSION: u32 = 2;
/// See [`GGML_QNT_VERSION`].
const GGML_QNT_VERSION_FACTOR: u32 = 1000;
/// Name of the token embedding, which also serves as the (tied) output projection.
const EMBEDDINGS: &str = "decoder/embeddings/weight";
/// Name of the output projection, an alias of [`EMBEDDINGS`].
const PROJECTION: &str = "decoder/projection/weight";

/// whisper.cpp's hyper-parameters, in the order the ggml file stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hparams {
    /// Rows of the token embedding (51864 for English-only models, 51865+ multilingual).
    pub n_vocab: u32,
    /// Audio positions after the conv front end (1500 for 30 s).
    pub n_audio_ctx: u32,
    /// Width of the encoder.
    pub n_audio_state: u32,
    /// Attention heads of the encoder.
    pub n_audio_head: u32,
    /// Layers of the encoder.
    pub n_audio_layer: u32,
    /// Maximum number of text positions (448).
    pub n_text_ctx: u32,
    /// Width of the decoder (equal to the encoder's in every whisper model).
    pub n_text_state: u32,
    /// Attention heads of the decoder.
    pub n_text_head: u32,
    /// Layers of the decoder.
    pub n_text_layer: u32,
    /// Mel bands of the input spectrogram (80, or 128 for large-v3).
    pub n_mels: u32,
    /// Weight type of the matrices: 1 (f16) for files written by [`convert`].
    pub ftype: u32,
}

impl Hparams {
    /// The values in file order.
    fn in_file_order(&self) -> [u32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }
}

/// What [`convert`] wrote.
#[derive(Debug, Clone)]
pub struct ConvertReport {
    /// The ggml file written.
    pub output: PathBuf,
    /// The hyper-parameters written to it.
    pub hparams: Hparams,
    /// Number of BPE tokens written to its vocabulary (50256 for English-only models).
    pub vocab_tokens: usize,
    /// Number of tensors written (167 for tiny).
    pub tensor_count: usize,
    /// Size of the file in bytes.
    pub output_bytes: u64,
}

/// Why a conversion failed. Each message names the file and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// An input file could not be read.
    #[error(
        "cannot read {path}: {source} (a faster-whisper model folder holds model.bin and \
         vocabulary.txt; scripts/fetch-test-models.sh fetches tiny.en into \
         ~/.cache/chute/models/ct2/whisper-tiny.en)"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// `model.bin` ends in the middle of a field.
    #[error(
        "{path} is truncated: it ends at byte {size}, in the middle of {what} (which starts \
         at byte {offset}); the download or copy was cut short, fetch the model again"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Where the field starts.
        offset: usize,
        /// Size of the file.
        size: usize,
        /// The field being read.
        what: String,
    },
    /// `model.bin` has another format version than [`CT2_FORMAT_VERSION`].
    #[error(
        "{path} has CTranslate2 format version {version}, but only version 6 can be \
         converted; use a model converted with CTranslate2 4.x (faster-whisper 1.x)"
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version found.
        version: u32,
    },
    /// `model.bin` holds another kind of model.
    #[error(
        "{path} holds a {spec:?} model, not a \"WhisperSpec\"; only faster-whisper \
         (CTranslate2 whisper) models can be converted"
    )]
    NotWhisper {
        /// The file.
        path: PathBuf,
        /// The spec name found.
        spec: String,
    },
    /// A file is structurally broken.
    #[error("{path} is corrupt: {detail}; fetch the model again")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A variable whisper.cpp needs is not in `model.bin`.
    #[error(
        "{path} has no variable {name:?}: it is not a complete faster-whisper model, or one \
         with a layout this converter does not know"
    )]
    MissingVariable {
        /// The file.
        path: PathBuf,
        /// The CTranslate2 variable name.
        name: String,
    },
    /// A variable has a shape that does not fit the model's other dimensions.
    #[error(
        "{path}: variable {name:?} has shape {found:?}, expected {expected}; the model is \
         inconsistent or not a standard whisper model"
    )]
    BadShape {
        /// The file.
        path: PathBuf,
        /// The CTranslate2 variable name.
        name: String,
        /// The shape found.
        found: Vec<usize>,
        /// The shape expected.
        expected: String,
    },
    /// The model is valid but uses something whisper.cpp's legacy format cannot express.
    #[error("{path} cannot be converted: {detail}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is not supported and what to use instead.
        detail: String,
    },
    /// The vocabulary file does not fit the model.
    #[error("{path}: {detail}; use the vocabulary file that came with the model")]
    Vocabulary {
        /// The vocabulary file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The output could not be written.
    #[error(
        "cannot write {path}: {source} (check that its folder is writable and that the disk \
         has room for the model; a previous file at that path is left unchanged)"
    )]
    Write {
        /// The output file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// Converts the faster-whisper model in `ct2_dir` (`model.bin` + `vocabulary.txt` or
/// `vocabulary.json`) into a whisper.cpp ggml file at `output`, with f16 matrices.
///
/// Everything is checked before `output` is touched. The file is written to a temporary
/// file in the same folder (created if needed), fsynced and renamed over `output`, so
/// `output` is either the old file or the complete new one.
pub fn convert(ct2_dir: &Path, output: &Path) -> Result<ConvertReport, ConvertError> {
    convert_as(ct2_dir, output, Weights::F16)
}

/// Converts `ct2_dir` into `output` unless `output` is already there or `ct2_dir` holds
/// no `model.bin`. Returns whether it converted.
pub fn convert_if_missing(
    ct2_dir: &Path,
    output: &Path,
    weights: Weights,
) -> Result<bool, ConvertError> {
    if output.exists() || !ct2_dir.join("model.bin").exists() {
        return Ok(false);
    }
    tracing::info!(from = %ct2_dir.display(), to = %output.display(), "Converting the faster-whisper model for whisper.cpp (once).");
    convert_as(ct2_dir, output, weights).map(|_| true)
}

/// Like [`convert`], with the matrices stored as `weights`.
pub fn convert_as(
    ct2_dir: &Path,
    output: &Path,
    weights: Weights,
) -> Result<ConvertReport, ConvertError> {
    let model_path = ct2_dir.join("model.bin");
    let bytes = fs::read(&model_path).map_err(|source| ConvertError::Read {
        path: model_path.clone(),
        source,
    })?;
    let mut model = Ct2Model::parse(&model_path, &bytes)?;
    let mut hparams = model.hparams()?;
    let mut tensors = plan_tensors(&mut model, &hparams)?;
    model.check_all_used()?;
    if let Some(quantization) = weights.quantization() {
        // As whisper.cpp's own quantizer: every f16 matrix whose rows cut into whole
        // blocks; the conv kernels (rank 3) stay f16.
        hparams.ftype = weights.ftype() + GGML_QNT_VERSION * GGML_QNT_VERSION_FACTOR;
        for tensor in &mut tensors {
            let innermost = tensor.dims.last().copied().unwrap_or(0);
            if tensor.ggml_type == GgmlType::F16
                && tensor.dims.len() == 2
                && innermost % quantize::BLOCK == 0
            {
                tensor.ggml_type = GgmlType::Blocks(quantization);
            }
        }
    }

    let (vocab_path, tokens) = read_vocabulary(ct2_dir)?;
    let vocab = bpe_tokens(&vocab_path, &tokens, hparams.n_vocab)?;

    let n_mels = hparams.n_mels as usize;
    let filters = mel_filters(SAMPLE_RATE, N_FFT, n_mels);
    let output_bytes = write_atomic(output, |writer| {
        write_ggml(writer, &hparams, n_mels, &filters, &vocab, &tensors)
    })?;
    Ok(ConvertReport {
        output: output.to_path_buf(),
        hparams,
        vocab_tokens: vocab.len(),
        tensor_count: tensors.len(),
        output_bytes,
    })
}

/// The mel filter bank whisper uses, as librosa's `filters.mel(sr, n_fft, n_mels)` computes
/// it with its defaults (Slaney mel scale, `fmin` 0, `fmax` sr/2, Slaney area
/// normalisation, f32 output): `n_mels` rows of `n_fft / 2 + 1` weights, row-major. For
/// 16 kHz, 400 and 80 it is bit-identical to librosa 0.11's.
pub fn mel_filters(sample_rate: u32, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    let sample_rate = f64::from(sample_rate);
    let bin_hz = |bin: usize| bin as f64 * sample_rate / n_fft as f64;
    let low = hz_to_mel(0.0);
    let high = hz_to_mel(sample_rate / 2.0);
    // n_mels + 2 band edges, equally spaced on the mel scale.
    let edges: Vec<f64> = (0..n_mels + 2)
        .map(|index| mel_to_hz(low + (high - low) * index as f64 / (n_mels + 1) as f64))
        .collect();
    let mut weights = Vec::with_capacity(n_mels * n_bins);
    for band in 0..n_mels {
        let (left, centre, right) = (edges[band], edges[band + 1], edges[band + 2]);
        let area = 2.0 / (right - left);
        for bin in 0..n_bins {
            let hz = bin_hz(bin);
            let rising = (hz - left) / (centre - left);
            let falling = (right - hz) / (right - centre);
            // librosa stores the triangle in f32, then scales that f32 by the f64 norm.
            let triangle = rising.min(falling).max(0.0) as f32;
            weights.push((f64::from(triangle) * area) as f32);
        }
    }
    weights
}

/// Slaney's mel scale (librosa `hz_to_mel` with `htk=False`): linear below 1 kHz,
/// logarithmic above.
fn hz_to_mel(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let log_step = 6.4f64.ln() / 27.0;
    if hz >= MIN_LOG_HZ {
        min_log_mel + (hz / MIN_LOG_HZ).ln() / log_step
    } else {
        hz / F_SP
    }
}

/// Inverse of [`hz_to_mel`].
fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let log_step = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        MIN_LOG_HZ * (log_step * (mel - min_log_mel)).exp()
    } else {
        F_SP * mel
    }
}

/// Whether GPT-2's byte-level alphabet represents `byte` by the character of the same
/// code point (printable Latin-1); the other 68 bytes map to U+0100 onwards, in order.
fn is_printable_byte(byte: u8) -> bool {
    matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF)
}

/// GPT-2's `bytes_to_unicode`: the printable character that stands for `byte` in
/// byte-level BPE tokens.
fn byte_to_unicode(byte: u8) -> char {
    if is_printable_byte(byte) {
        return char::from(byte);
    }
    let rank = (0..byte).filter(|&lower| !is_printable_byte(lower)).count() as u32;
    // 256 + rank stays below U+0144, always a valid scalar value.
    char::from_u32(256 + rank).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The inverse of [`byte_to_unicode`] for all 256 bytes.
fn unicode_to_byte_table() -> HashMap<char, u8> {
    (0..=u8::MAX)
        .map(|byte| (byte_to_unicode(byte), byte))
        .collect()
}

/// Reads the model's token list: `vocabulary.txt` (one token a line), else
/// `vocabulary.json` (an array of strings), as CTranslate2 writes them.
fn read_vocabulary(dir: &Path) -> Result<(PathBuf, Vec<String>), ConvertError> {
    let text_path = dir.join("vocabulary.txt");
    match fs::read_to_string(&text_path) {
        Ok(text) => {
            let mut tokens: Vec<String> = text
                .split('\n')
                .map(|line| line.strip_suffix('\r').unwrap_or(line).to_owned())
                .collect();
            if tokens.last().is_some_and(String::is_empty) {
                tokens.pop();
            }
            return Ok((text_path, tokens));
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) if error.kind() == io::ErrorKind::InvalidData => {
            return Err(ConvertError::Vocabulary {
                path: text_path,
                detail: "the file is not UTF-8".to_owned(),
            });
        }
        Err(source) => {
            return Err(ConvertError::Read {
                path: text_path,
                source,
            });
        }
    }
    let json_path = dir.join("vocabulary.json");
    let bytes = match fs::read(&json_path) {
        Ok(bytes) => bytes,
        // Neither exists: name the usual one.
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(ConvertError::Read {
                path: text_path,
                source: error,
            });
        }
        Err(source) => {
            return Err(ConvertError::Read {
                path: json_path,
                source,
            });
        }
    };
    let tokens = serde_json::from_slice(&bytes).map_err(|error| ConvertError::Vocabulary {
        path: json_path.clone(),
        detail: format!("not a JSON array of strings: {error}"),
    })?;
    Ok((json_path, tokens))
}

/// The byte-level BPE tokens before `<|endoftext|>`, decoded to raw bytes.
fn bpe_tokens(path: &Path, tokens: &[String], n_vocab: u32) -> Result<Vec<Vec<u8>>, ConvertError> {
    let vocabulary_error = |detail: String| ConvertError::Vocabulary {
        path: path.to_path_buf(),
        detail,
    };
    let end_of_text = tokens
        .iter()
        .position(|token| token == END_OF_TEXT)
        .ok_or_else(|| vocabulary_error(format!("it has no {END_OF_TEXT} token")))?;
    // whisper.cpp derives the special token ids from n_vocab.
    let expected = if n_vocab >= 51865 { 50257 } else { 50256 };
    if end_of_text != expected {
        return Err(vocabulary_error(format!(
            "{END_OF_TEXT} is token {end_of_text}, but whisper.cpp expects it at {expected} \
             for a model with {n_vocab} embedding rows"
        )));
    }
    let table = unicode_to_byte_table();
    tokens[..end_of_text]
        .iter()
        .enumerate()
        .map(|(id, token)| {
            token
                .chars()
                .map(|c| table.get(&c).copied())
                .collect::<Option<Vec<u8>>>()
                .ok_or_else(|| {
                    vocabulary_error(format!(
                        "token {id} ({token:?}) has a character outside GPT-2's byte alphabet"
                    ))
                })
        })
        .collect()
}

/// Element types of CTranslate2 variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
}

impl Dtype {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::Bf16,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::F32 => "float32",
            Self::I8 => "int8",
            Self::I16 => "int16",
            Self::I32 => "int32",
            Self::F16 => "float16",
            Self::Bf16 => "bfloat16",
        }
    }

    fn float(self) -> Option<Float> {
        match self {
            Self::F32 => Some(Float::F32),
            Self::F16 => Some(Float::F16),
            Self::Bf16 => Some(Float::Bf16),
            Self::I8 | Self::I16 | Self::I32 => None,
        }
    }
}

/// The floating-point element types a tensor can be converted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Float {
    F32,
    F16,
    Bf16,
}

impl Float {
    fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::Bf16 => 2,
        }
    }

    /// Decodes one little-endian element (`bytes` has exactly [`Float::size`] bytes).
    fn decode(self, bytes: &[u8]) -> f32 {
        match self {
            Self::F32 => f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            Self::F16 => f16::from_le_bytes([bytes[0], bytes[1]]).to_f32(),
            Self::Bf16 => bf16::from_le_bytes([bytes[0], bytes[1]]).to_f32(),
        }
    }
}

/// One variable of `model.bin`, borrowing its data.
#[derive(Debug, Clone)]
struct Variable<'a> {
    dims: Vec<usize>,
    dtype: Dtype,
    data: &'a [u8],
}

/// Float data for one output tensor: a whole variable or some of its rows.
#[derive(Debug, Clone, Copy)]
struct Source<'a> {
    float: Float,
    data: &'a [u8],
}

impl<'a> Source<'a> {
    /// `count` rows from `start` of data shaped `dims` (rows along the first dim).
    fn rows(self, dims: &[usize], start: usize, count: usize) -> Source<'a> {
        let row_bytes = dims[1..].iter().product::<usize>() * self.float.size();
        Source {
            float: self.float,
            data: &self.data[start * row_bytes..(start + count) * row_bytes],
        }
    }
}

/// A parsed `model.bin`.
struct Ct2Model<'a> {
    path: &'a Path,
    variables: HashMap<String, Variable<'a>>,
    aliases: HashMap<String, String>,
    used: HashSet<String>,
}

/// Bounds-checked little-endian reads from `model.bin`.
struct Reader<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize, what: &str) -> Result<&'a [u8], ConvertError> {
        let end = self
            .pos
            .checked_add(count)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| ConvertError::Truncated {
                path: self.path.to_path_buf(),
                offset: self.pos,
                size: self.bytes.len(),
                what: what.to_owned(),
            })?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self, what: &str) -> Result<u8, ConvertError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, ConvertError> {
        let bytes = self.take(2, what)?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, ConvertError> {
        let bytes = self.take(4, what)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// A u16 length (counting a trailing NUL) and that many bytes.
    fn string(&mut self, what: &str) -> Result<String, ConvertError> {
        let length = usize::from(self.u16(what)?);
        let raw = self.take(length, what)?;
        let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
        String::from_utf8(raw.to_vec()).map_err(|_| self.malformed(format!("{what} is not UTF-8")))
    }

    fn malformed(&self, detail: String) -> ConvertError {
        ConvertError::Malformed {
            path: self.path.to_path_buf(),
            detail,
        }
    }
}

impl<'a> Ct2Model<'a> {
    /// Parses the whole of `bytes`, the contents of `path`.
    fn parse(path: &'a Path, bytes: &'a [u8]) -> Result<Self, ConvertError> {
        let mut reader = Reader {
            path,
            bytes,
            pos: 0,
        };
        let version = reader.u32("the format version")?;
        if version != CT2_FORMAT_VERSION {
            return Err(ConvertError::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
            });
        }
        let spec = reader.string("the spec name")?;
        if spec != "WhisperSpec" {
            return Err(ConvertError::NotWhisper {
                path: path.to_path_buf(),
                spec,
            });
        }
        reader.u32("the spec revision")?;
        let count = reader.u32("the variable count")?;
        let mut variables = HashMap::new();
        for index in 0..count {
            let name = reader.string(&format!("the name of variable {index}"))?;
            let rank = reader.u8(&format!("the rank of {name}"))?;
            let mut dims = Vec::with_capacity(usize::from(rank));
            for _ in 0..rank {
                let dim = reader.u32(&format!("the shape of {name}"))?;
                if dim > i32::MAX as u32 {
                    return Err(reader.malformed(format!("{name} has a dimension of {dim}")));
                }
                dims.push(dim as usize);
            }
            let code = reader.u8(&format!("the dtype of {name}"))?;
            let dtype = Dtype::from_code(code)
                .ok_or_else(|| reader.malformed(format!("{name} has unknown dtype {code}")))?;
            let byte_count = reader.u32(&format!("the byte count of {name}"))? as usize;
            let expected = dims
                .iter()
                .try_fold(dtype.size(), |total, &dim| total.checked_mul(dim));
            if expected != Some(byte_count) {
                return Err(reader.malformed(format!(
                    "{name} has {byte_count} bytes of data for shape {dims:?} of {}",
                    dtype.name()
                )));
            }
            let data = reader.take(byte_count, &format!("the data of {name}"))?;
            let variable = Variable { dims, dtype, data };
            if variables.insert(name.clone(), variable).is_some() {
                return Err(reader.malformed(format!("variable {name} appears twice")));
            }
        }
        let alias_count = reader.u32("the alias count")?;
        let mut aliases = HashMap::new();
        for index in 0..alias_count {
            let alias = reader.string(&format!("alias {index}"))?;
            let target = reader.string(&format!("the target of alias {alias}"))?;
            if !variables.contains_key(&target) {
                return Err(reader.malformed(format!(
                    "alias {alias} names {target}, which is not a variable"
                )));
            }
            aliases.insert(alias, target);
        }
        if reader.pos != bytes.len() {
            return Err(reader.malformed(format!(
                "{} unexpected bytes follow the aliases at byte {}",
                bytes.len() - reader.pos,
                reader.pos
            )));
        }
        Ok(Self {
            path,
            variables,
            aliases,
            used: HashSet::new(),
        })
    }

    fn missing(&self, name: &str) -> ConvertError {
        ConvertError::MissingVariable {
            path: self.path.to_path_buf(),
            name: name.to_owned(),
        }
    }

    fn bad_shape(&self, name: &str, found: &[usize], expected: String) -> ConvertError {
        ConvertError::BadShape {
            path: self.path.to_path_buf(),
            name: name.to_owned(),
            found: found.to_vec(),
            expected,
        }
    }

    fn unsupported(&self, detail: String) -> ConvertError {
        ConvertError::Unsupported {
            path: self.path.to_path_buf(),
            detail,
        }
    }

    /// The shape of `name`, which must have `rank` dims.
    fn dims(&self, name: &str, rank: usize) -> Result<&[usize], ConvertError> {
        let variable = self.variables.get(name).ok_or_else(|| self.missing(name))?;
        if variable.dims.len() != rank {
            return Err(self.bad_shape(name, &variable.dims, format!("{rank} dimensions")));
        }
        Ok(&variable.dims)
    }

    /// The float data of `name`, which must have shape `expected`; marks it used.
    fn tensor(&mut self, name: &str, expected: &[usize]) -> Result<Source<'a>, ConvertError> {
        let variable = self.variables.get(name).ok_or_else(|| self.missing(name))?;
        let float = variable.dtype.float().ok_or_else(|| {
            self.unsupported(format!(
                "variable {name} is {} (a quantized model); whisper.cpp's legacy format is \
                 written from float models only: use the float16 or float32 faster-whisper \
                 model",
                variable.dtype.name()
            ))
        })?;
        if variable.dims != expected {
            return Err(self.bad_shape(name, &variable.dims, format!("{expected:?}")));
        }
        let source = Source {
            float,
            data: variable.data,
        };
        self.used.insert(name.to_owned());
        Ok(source)
    }

    /// A positive integer scalar setting such as `encoder/num_heads`, if present.
    fn scalar(&mut self, name: &str) -> Result<Option<usize>, ConvertError> {
        let Some(variable) = self.variables.get(name) else {
            return Ok(None);
        };
        let data = variable.data;
        let value = match (variable.dims.len(), variable.dtype) {
            (0, Dtype::I8) => i64::from(i8::from_le_bytes([data[0]])),
            (0, Dtype::I16) => i64::from(i16::from_le_bytes([data[0], data[1]])),
            (0, Dtype::I32) => i64::from(i32::from_le_bytes([data[0], data[1], data[2], data[3]])),
            _ => {
                return Err(self.bad_shape(name, &variable.dims, "an integer scalar".to_owned()));
            }
        };
        let value = usize::try_from(value)
            .ok()
            .filter(|&value| value > 0)
            .ok_or_else(|| self.unsupported(format!("{name} is {value}")))?;
        self.used.insert(name.to_owned());
        Ok(Some(value))
    }

    /// How many `{side}/layer_N` blocks there are (N = 0, 1, … without gaps).
    fn layer_count(&self, side: &str) -> Result<usize, ConvertError> {
        let probe = |index: usize| format!("{side}/layer_{index}/ffn/linear_0/weight");
        let count = (0..)
            .take_while(|&index| self.variables.contains_key(&probe(index)))
            .count();
        if count == 0 {
            return Err(self.missing(&probe(0)));
        }
        Ok(count)
    }

    /// Attention heads from `{side}/num_heads`, else whisper's head width of 64.
    fn heads(&mut self, side: &str, n_state: usize) -> Result<usize, ConvertError> {
        let name = format!("{side}/num_heads");
        let heads = self.scalar(&name)?.unwrap_or(n_state / 64);
        if heads == 0 || !n_state.is_multiple_of(heads) {
            return Err(self.unsupported(format!(
                "{heads} attention heads do not divide the width {n_state} ({name})"
            )));
        }
        Ok(heads)
    }

    /// The hyper-parameters, read off the variables' shapes and scalar settings.
    fn hparams(&mut self) -> Result<Hparams, ConvertError> {
        let conv1 = self.dims("encoder/conv1/weight", 3)?;
        let (n_audio_state, n_mels) = (conv1[0], conv1[1]);
        if conv1[2] != 3 {
            return Err(self.bad_shape(
                "encoder/conv1/weight",
                conv1,
                "a kernel width of 3".to_owned(),
            ));
        }
        let n_audio_ctx = self.dims("encoder/position_encodings/encodings", 2)?[0];
        let embeddings = self.dims(EMBEDDINGS, 2)?;
        let (n_vocab, n_text_state) = (embeddings[0], embeddings[1]);
        let n_text_ctx = self.dims("decoder/position_encodings/encodings", 2)?[0];
        if n_text_state != n_audio_state {
            return Err(self.unsupported(format!(
                "the decoder width {n_text_state} differs from the encoder width \
                 {n_audio_state}, which whisper.cpp does not support"
            )));
        }
        let n_audio_layer = self.layer_count("encoder")?;
        let n_text_layer = self.layer_count("decoder")?;
        let n_audio_head = self.heads("encoder", n_audio_state)?;
        let n_text_head = self.heads("decoder", n_text_state)?;
        // Every value comes from a dimension checked to fit an i32, or is a count of layers.
        let field = |value: usize| u32::try_from(value).unwrap_or(u32::MAX);
        Ok(Hparams {
            n_vocab: field(n_vocab),
            n_audio_ctx: field(n_audio_ctx),
            n_audio_state: field(n_audio_state),
            n_audio_head: field(n_audio_head),
            n_audio_layer: field(n_audio_layer),
            n_text_ctx: field(n_text_ctx),
            n_text_state: field(n_text_state),
            n_text_head: field(n_text_head),
            n_text_layer: field(n_text_layer),
            n_mels: field(n_mels),
            ftype: FTYPE_MOSTLY_F16,
        })
    }

    /// Checks that the output projection is tied to the token embedding, as whisper.cpp
    /// assumes: an alias of it, a byte-identical copy, or absent.
    fn check_tied_projection(&mut self) -> Result<(), ConvertError> {
        if let Some(target) = self.aliases.get(PROJECTION) {
            if target != EMBEDDINGS {
                return Err(self.unsupported(format!(
                    "{PROJECTION} is an alias of {target}, but whisper.cpp ties the output \
                     projection to {EMBEDDINGS}"
                )));
            }
            return Ok(());
        }
        let Some(projection) = self.variables.get(PROJECTION) else {
            return Ok(());
        };
        let tied = self.variables.get(EMBEDDINGS).is_some_and(|embeddings| {
            embeddings.dims == projection.dims
                && embeddings.dtype == projection.dtype
                && embeddings.data == projection.data
        });
        if !tied {
            return Err(self.unsupported(format!(
                "{PROJECTION} differs from {EMBEDDINGS}; whisper.cpp ties the output \
                 projection to the token embedding"
            )));
        }
        self.used.insert(PROJECTION.to_owned());
        Ok(())
    }

    /// Fails on tensors that were not converted: they would be silently lost.
    fn check_all_used(&self) -> Result<(), ConvertError> {
        let mut unused: Vec<&str> = self
            .variables
            .iter()
            .filter(|(name, variable)| !variable.dims.is_empty() && !self.used.contains(*name))
            .map(|(name, _)| name.as_str())
            .collect();
        if unused.is_empty() {
            return Ok(());
        }
        unused.sort_unstable();
        Err(self.unsupported(format!(
            "it has variables whisper.cpp has no place for: {}",
            unused.join(", ")
        )))
    }
}

/// ggml tensor types used in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GgmlType {
    F32,
    F16,
    Blocks(Quantization),
}

impl GgmlType {
    /// The type whisper.cpp's loader expects for tensor `name` of `rank` dims.
    fn for_tensor(name: &str, rank: usize) -> Self {
        let is_conv_bias = name == "encoder.conv1.bias" || name == "encoder.conv2.bias";
        if rank < 2 || is_conv_bias || name.ends_with("positional_embedding") {
            Self::F32
        } else {
            Self::F16
        }
    }

    fn code(self) -> i32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Blocks(quantization) => quantization.type_code(),
        }
    }
}

/// One tensor to write.
#[derive(Debug, Clone)]
struct Tensor<'a> {
    /// whisper's name.
    name: String,
    /// Shape, outermost first (written innermost first).
    dims: Vec<usize>,
    ggml_type: GgmlType,
    source: Source<'a>,
}

/// Collects the output tensors from a model.
struct Planner<'m, 'a> {
    model: &'m mut Ct2Model<'a>,
    tensors: Vec<Tensor<'a>>,
}

impl<'a> Planner<'_, 'a> {
    fn push(&mut self, name: String, dims: Vec<usize>, source: Source<'a>) {
        let ggml_type = GgmlType::for_tensor(&name, dims.len());
        self.tensors.push(Tensor {
            name,
            dims,
            ggml_type,
            source,
        });
    }

    /// `ct2` of shape `dims` as `ggml`, unchanged.
    fn copy(&mut self, ct2: &str, ggml: &str, dims: &[usize]) -> Result<(), ConvertError> {
        let source = self.model.tensor(ct2, dims)?;
        self.push(ggml.to_owned(), dims.to_vec(), source);
        Ok(())
    }

    /// A conv layer: weight `[out, in, 3]`, bias `[out]` stored as `(out, 1)`.
    fn conv(&mut self, ct2: &str, ggml: &str, out: usize, inp: usize) -> Result<(), ConvertError> {
        self.copy(
            &format!("{ct2}/weight"),
            &format!("{ggml}.weight"),
            &[out, inp, 3],
        )?;
        let bias = self.model.tensor(&format!("{ct2}/bias"), &[out])?;
        self.push(format!("{ggml}.bias"), vec![out, 1], bias);
        Ok(())
    }

    /// A layer norm: `gamma`/`beta` → `weight`/`bias`.
    fn norm(&mut self, ct2: &str, ggml: &str, n: usize) -> Result<(), ConvertError> {
        self.copy(&format!("{ct2}/gamma"), &format!("{ggml}.weight"), &[n])?;
        self.copy(&format!("{ct2}/beta"), &format!("{ggml}.bias"), &[n])
    }

    /// A linear layer: weight `[out, inp]`, bias `[out]`.
    fn linear(
        &mut self,
        ct2: &str,
        ggml: &str,
        out: usize,
        inp: usize,
    ) -> Result<(), ConvertError> {
        self.copy(
            &format!("{ct2}/weight"),
            &format!("{ggml}.weight"),
            &[out, inp],
        )?;
        self.copy(&format!("{ct2}/bias"), &format!("{ggml}.bias"), &[out])
    }

    /// Linear layers fused by rows: `parts` (whisper name, keep the bias) of `[n, n]` each.
    fn fused(
        &mut self,
        ct2: &str,
        ggml: &str,
        parts: &[(&str, bool)],
        n: usize,
    ) -> Result<(), ConvertError> {
        let rows = parts.len() * n;
        let weight_dims = [rows, n];
        let weight = self.model.tensor(&format!("{ct2}/weight"), &weight_dims)?;
        let bias = self.model.tensor(&format!("{ct2}/bias"), &[rows])?;
        for (index, &(part, keep_bias)) in parts.iter().enumerate() {
            let weight = weight.rows(&weight_dims, index * n, n);
            self.push(format!("{ggml}.{part}.weight"), vec![n, n], weight);
            if keep_bias {
                let bias = bias.rows(&[rows], index * n, n);
                self.push(format!("{ggml}.{part}.bias"), vec![n], bias);
            }
        }
        Ok(())
    }

    /// The feed-forward block and its norm.
    fn mlp(&mut self, ct2: &str, ggml: &str, n: usize) -> Result<(), ConvertError> {
        self.norm(&format!("{ct2}/layer_norm"), &format!("{ggml}.mlp_ln"), n)?;
        self.linear(
            &format!("{ct2}/linear_0"),
            &format!("{ggml}.mlp.0"),
            4 * n,
            n,
        )?;
        self.linear(
            &format!("{ct2}/linear_1"),
            &format!("{ggml}.mlp.2"),
            n,
            4 * n,
        )
    }

    /// Self-attention and its norm (query, key, value fused; no key bias).
    fn self_attention(&mut self, ct2: &str, ggml: &str, n: usize) -> Result<(), ConvertError> {
        let qkv = [("query", true), ("key", false), ("value", true)];
        self.norm(&format!("{ct2}/layer_norm"), &format!("{ggml}.attn_ln"), n)?;
        self.fused(&format!("{ct2}/linear_0"), &format!("{ggml}.attn"), &qkv, n)?;
        self.linear(
            &format!("{ct2}/linear_1"),
            &format!("{ggml}.attn.out"),
            n,
            n,
        )
    }

    /// Cross-attention and its norm (key and value fused; no key bias).
    fn cross_attention(&mut self, ct2: &str, ggml: &str, n: usize) -> Result<(), ConvertError> {
        let kv = [("key", false), ("value", true)];
        let cross = format!("{ggml}.cross_attn");
        self.norm(
            &format!("{ct2}/layer_norm"),
            &format!("{ggml}.cross_attn_ln"),
            n,
        )?;
        self.linear(&format!("{ct2}/linear_0"), &format!("{cross}.query"), n, n)?;
        self.fused(&format!("{ct2}/linear_1"), &cross, &kv, n)?;
        self.linear(&format!("{ct2}/linear_2"), &format!("{cross}.out"), n, n)
    }
}

/// Maps every variable whisper.cpp needs to its ggml tensor(s), checking shapes.
fn plan_tensors<'a>(
    model: &mut Ct2Model<'a>,
    hparams: &Hparams,
) -> Result<Vec<Tensor<'a>>, ConvertError> {
    let n = hparams.n_audio_state as usize;
    let mut planner = Planner {
        model,
        tensors: Vec::new(),
    };
    planner.conv("encoder/conv1", "encoder.conv1", n, hparams.n_mels as usize)?;
    planner.conv("encoder/conv2", "encoder.conv2", n, n)?;
    planner.copy(
        "encoder/position_encodings/encodings",
        "encoder.positional_embedding",
        &[hparams.n_audio_ctx as usize, n],
    )?;
    for layer in 0..hparams.n_audio_layer {
        let ct2 = format!("encoder/layer_{layer}");
        let ggml = format!("encoder.blocks.{layer}");
        planner.self_attention(&format!("{ct2}/self_attention"), &ggml, n)?;
        planner.mlp(&format!("{ct2}/ffn"), &ggml, n)?;
    }
    planner.norm("encoder/layer_norm", "encoder.ln_post", n)?;

    planner.copy(
        "decoder/position_encodings/encodings",
        "decoder.positional_embedding",
        &[hparams.n_text_ctx as usize, n],
    )?;
    planner.copy(
        EMBEDDINGS,
        "decoder.token_embedding.weight",
        &[hparams.n_vocab as usize, n],
    )?;
    for layer in 0..hparams.n_text_layer {
        let ct2 = format!("decoder/layer_{layer}");
        let ggml = format!("decoder.blocks.{layer}");
        planner.self_attention(&format!("{ct2}/self_attention"), &ggml, n)?;
        planner.cross_attention(&format!("{ct2}/attention"), &ggml, n)?;
        planner.mlp(&format!("{ct2}/ffn"), &ggml, n)?;
    }
    planner.norm("decoder/layer_norm", "decoder.ln", n)?;
    planner.model.check_tied_projection()?;
    Ok(planner.tensors)
}

/// Writes a `usize` known to fit an i32 (dims checked at parse time, small counts).
fn put_i32(writer: &mut dyn Write, value: usize) -> io::Result<()> {
    let value = i32::try_from(value)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "value exceeds an i32"))?;
    writer.write_all(&value.to_le_bytes())
}

/// Writes the whole ggml file.
fn write_ggml(
    writer: &mut dyn Write,
    hparams: &Hparams,
    n_mels: usize,
    filters: &[f32],
    vocab: &[Vec<u8>],
    tensors: &[Tensor<'_>],
) -> io::Result<()> {
    writer.write_all(&GGML_MAGIC.to_le_bytes())?;
    for value in hparams.in_file_order() {
        put_i32(writer, value as usize)?;
    }
    put_i32(writer, n_mels)?;
    put_i32(writer, filters.len() / n_mels.max(1))?;
    let mut buffer = Vec::with_capacity(filters.len() * 4);
    for weight in filters {
        buffer.extend_from_slice(&weight.to_le_bytes());
    }
    writer.write_all(&buffer)?;

    put_i32(writer, vocab.len())?;
    for token in vocab {
        let length = u32::try_from(token.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "token too long"))?;
        writer.write_all(&length.to_le_bytes())?;
        writer.write_all(token)?;
    }

    for tensor in tensors {
        put_i32(writer, tensor.dims.len())?;
        put_i32(writer, tensor.name.len())?;
        writer.write_all(&tensor.ggml_type.code().to_le_bytes())?;
        for &dim in tensor.dims.iter().rev() {
            put_i32(writer, dim)?;
        }
        writer.write_all(tensor.name.as_bytes())?;
        write_data(writer, tensor.source, tensor.ggml_type)?;
    }
    Ok(())
}

/// Writes `source` as `ggml_type`, converting element by element when the types differ.
fn write_data(writer: &mut dyn Write, source: Source<'_>, ggml_type: GgmlType) -> io::Result<()> {
    match (source.float, ggml_type) {
        (Float::F32, GgmlType::F32) | (Float::F16, GgmlType::F16) => {
            return writer.write_all(source.data);
        }
        (_, GgmlType::Blocks(quantization)) => return write_blocks(writer, source, quantization),
        _ => {}
    }
    const CHUNK: usize = 64 * 1024;
    let mut buffer = Vec::with_capacity(CHUNK + 4);
    for element in source.data.chunks_exact(source.float.size()) {
        let value = source.float.decode(element);
        match ggml_type {
            GgmlType::F32 => buffer.extend_from_slice(&value.to_le_bytes()),
            GgmlType::F16 => buffer.extend_from_slice(&f16::from_f32(value).to_le_bytes()),
            GgmlType::Blocks(_) => unreachable!("blocks are written by write_blocks"),
        }
        if buffer.len() >= CHUNK {
            writer.write_all(&buffer)?;
            buffer.clear();
        }
    }
    writer.write_all(&buffer)
}

/// Writes `source` as blocks of `quantization` (ggml's reference quantizers; a short
/// last block is padded with zeros, though only whole rows of blocks are quantized).
fn write_blocks(
    writer: &mut dyn Write,
    source: Source<'_>,
    quantization: Quantization,
) -> io::Result<()> {
    let size = source.float.size();
    let mut buffer = Vec::with_capacity(64 * 1024 + quantization.block_bytes());
    for block in source.data.chunks(quantize::BLOCK * size) {
        let mut values = [0f32; quantize::BLOCK];
        for (value, element) in values.iter_mut().zip(block.chunks_exact(size)) {
            *value = source.float.decode(element);
        }
        quantization.quantize_block(&values, &mut buffer);
        if buffer.len() >= 64 * 1024 {
            writer.write_all(&buffer)?;
            buffer.clear();
        }
    }
    writer.write_all(&buffer)
}

/// Writes `output` through `write` into a temporary file in the same folder, fsyncs it,
/// renames it over `output` and fsyncs the folder. Returns the file size.
fn write_atomic(
    output: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<u64, ConvertError> {
    let error = |source: io::Error| ConvertError::Write {
        path: output.to_path_buf(),
        source,
    };
    let file_name = output.file_name().ok_or_else(|| {
        error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ))
    })?;
    let dir = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(error)?;
    let prefix = format!(".{}.", file_name.to_string_lossy());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // A model is no secret: readable like any file (the temp file default is 0600).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o644));
    }
    let mut temp = builder.tempfile_in(dir).map_err(error)?;
    {
        let mut writer = BufWriter::with_capacity(1 << 20, temp.as_file_mut());
        write(&mut writer).map_err(error)?;
        writer.flush().map_err(error)?;
    }
    fsutil::fsync(temp.as_file()).map_err(error)?;
    let size = temp.as_file().metadata().map_err(error)?.len();
    temp.persist(output)
        .map_err(|persist| error(persist.error))?;
    fsutil::sync_dir(dir).map_err(error)?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;
    use std::time::Instant;

    use super::*;

    const N_BINS: usize = N_FFT / 2 + 1;

    fn tiny_en_dir() -> PathBuf {
        let dir = crate::models::default_models_dir().join("ct2/whisper-tiny.en");
        assert!(
            dir.join("model.bin").is_file() && dir.join("vocabulary.txt").is_file(),
            "the faster-whisper tiny.en model is missing from {}: run scripts/fetch-test-models.sh",
            dir.display()
        );
        dir
    }

    #[test]
    fn mel_filter_bank_matches_librosa() {
        let filters = mel_filters(SAMPLE_RATE, N_FFT, 80);
        assert_eq!(filters.len(), 80 * N_BINS);
        assert!(filters.iter().all(|w| w.is_finite() && *w >= 0.0));
        let first = filters.iter().copied().find(|&w| w != 0.0).unwrap();
        assert!((first - 0.024_862_6).abs() < 1e-6, "first weight {first}");
        // Band 40 spans bins 42..=44; librosa 0.11 gives these values (the whole bank was
        // compared with it once: bit-identical).
        let band = &filters[40 * N_BINS..41 * N_BINS];
        let nonzero: Vec<(usize, f32)> = band
            .iter()
            .copied()
            .enumerate()
            .filter(|&(_, w)| w != 0.0)
            .collect();
        assert_eq!(nonzero.len(), 3, "{nonzero:?}");
        for ((bin, weight), (want_bin, want)) in
            nonzero
                .iter()
                .zip([(42, 0.005_411_105), (43, 0.014_735_566), (44, 0.006_518_19)])
        {
            assert_eq!(*bin, want_bin);
            assert!((weight - want).abs() < 1e-8, "bin {bin}: {weight}");
        }
        // Peaks move up with the band. Adjacent narrow low bands (37 Hz apart on 40 Hz
        // bins) can share a peak bin, so the peak is non-decreasing and the centre of
        // mass strictly increasing.
        let rows: Vec<&[f32]> = filters.chunks(N_BINS).collect();
        let peaks: Vec<usize> = rows
            .iter()
            .map(|row| {
                (0..N_BINS)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap()
            })
            .collect();
        assert_eq!(peaks[0], 1);
        assert!(peaks.windows(2).all(|pair| pair[0] <= pair[1]), "{peaks:?}");
        assert!(peaks[79] > peaks[0] + 150);
        let centres: Vec<f64> = rows
            .iter()
            .map(|row| {
                let total: f64 = row.iter().map(|&w| f64::from(w)).sum();
                let moment: f64 = row
                    .iter()
                    .enumerate()
                    .map(|(bin, &w)| bin as f64 * f64::from(w))
                    .sum();
                moment / total
            })
            .collect();
        assert!(centres.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn byte_alphabet_round_trips_all_bytes() {
        let table = unicode_to_byte_table();
        assert_eq!(table.len(), 256, "the 256 characters are distinct");
        for byte in 0..=u8::MAX {
            let c = byte_to_unicode(byte);
            assert!(
                !c.is_whitespace() && !c.is_control(),
                "byte {byte} -> {c:?}"
            );
            assert_eq!(table[&c], byte);
        }
        assert_eq!(byte_to_unicode(b'!'), '!');
        assert_eq!(byte_to_unicode(0x00), '\u{100}');
        assert_eq!(byte_to_unicode(b'\n'), 'Ċ');
        assert_eq!(byte_to_unicode(b' '), 'Ġ');
        assert_eq!(byte_to_unicode(0xAD), 'Ń');
    }

    /// One tensor of a ggml file: rank-ordered dims as stored (innermost first), type, data.
    struct GgmlTensor {
        dims: Vec<usize>,
        ggml_type: i32,
        data: Vec<u8>,
    }

    /// A whisper.cpp ggml file, read back the way whisper.cpp's loader reads it.
    struct GgmlFile {
        magic: u32,
        hparams: [i32; 11],
        filters_shape: (usize, usize),
        filters: Vec<f32>,
        vocab: Vec<Vec<u8>>,
        tensors: BTreeMap<String, GgmlTensor>,
        tensor_count: usize,
    }

    /// Little-endian reads over a byte slice (panics past the end: a test failure).
    struct Cursor<'a> {
        bytes: &'a [u8],
        pos: usize,
    }

    impl<'a> Cursor<'a> {
        fn take(&mut self, count: usize) -> &'a [u8] {
            let slice = &self.bytes[self.pos..self.pos + count];
            self.pos += count;
            slice
        }

        fn u32(&mut self) -> u32 {
            u32::from_le_bytes(self.take(4).try_into().unwrap())
        }

        fn i32(&mut self) -> i32 {
            i32::from_le_bytes(self.take(4).try_into().unwrap())
        }

        fn len(&mut self) -> usize {
            usize::try_from(self.i32()).unwrap()
        }
    }

    fn read_ggml(bytes: &[u8]) -> GgmlFile {
        let mut cursor = Cursor { bytes, pos: 0 };
        let magic = cursor.u32();
        let mut hparams = [0; 11];
        for value in &mut hparams {
            *value = cursor.i32();
        }
        let n_mel = cursor.len();
        let n_fft = cursor.len();
        let filters = f32_values(cursor.take(n_mel * n_fft * 4));
        let n_vocab = cursor.len();
        let vocab = (0..n_vocab)
            .map(|_| {
                let length = cursor.u32() as usize;
                cursor.take(length).to_vec()
            })
            .collect();
        let mut tensors = BTreeMap::new();
        let mut tensor_count = 0;
        while cursor.pos < bytes.len() {
            let n_dims = cursor.len();
            let name_length = cursor.len();
            let ggml_type = cursor.i32();
            let dims: Vec<usize> = (0..n_dims).map(|_| cursor.len()).collect();
            let name = String::from_utf8(cursor.take(name_length).to_vec()).unwrap();
            let size = match ggml_type {
                0 => 4,
                1 => 2,
                other => panic!("{name} has type {other}"),
            };
            let data = cursor.take(dims.iter().product::<usize>() * size).to_vec();
            let tensor = GgmlTensor {
                dims,
                ggml_type,
                data,
            };
            assert!(
                tensors.insert(name.clone(), tensor).is_none(),
                "{name} twice"
            );
            tensor_count += 1;
        }
        assert_eq!(
            cursor.pos,
            bytes.len(),
            "the whole file is consumed exactly"
        );
        GgmlFile {
            magic,
            hparams,
            filters_shape: (n_mel, n_fft),
            filters,
            vocab,
            tensors,
            tensor_count,
        }
    }

    /// The tensors whisper.cpp's loader creates for tiny (4 + 4 layers, width 384): name
    /// -> (ne, innermost first; type).
    fn expected_tiny_tensors() -> BTreeMap<String, (Vec<usize>, i32)> {
        let (n, f32_, f16_) = (384, 0, 1);
        let mut expected = BTreeMap::new();
        let mut add = |name: String, dims: &[usize], ggml_type: i32| {
            expected.insert(name, (dims.to_vec(), ggml_type));
        };
        add("encoder.positional_embedding".into(), &[n, 1500], f32_);
        add("encoder.conv1.weight".into(), &[3, 80, n], f16_);
        add("encoder.conv1.bias".into(), &[1, n], f32_);
        add("encoder.conv2.weight".into(), &[3, n, n], f16_);
        add("encoder.conv2.bias".into(), &[1, n], f32_);
        add("encoder.ln_post.weight".into(), &[n], f32_);
        add("encoder.ln_post.bias".into(), &[n], f32_);
        add("decoder.positional_embedding".into(), &[n, 448], f32_);
        add("decoder.token_embedding.weight".into(), &[n, 51864], f16_);
        add("decoder.ln.weight".into(), &[n], f32_);
        add("decoder.ln.bias".into(), &[n], f32_);
        for side in ["encoder", "decoder"] {
            for layer in 0..4 {
                let block = format!("{side}.blocks.{layer}");
                let mut attention = |prefix: &str| {
                    add(format!("{block}.{prefix}_ln.weight"), &[n], f32_);
                    add(format!("{block}.{prefix}_ln.bias"), &[n], f32_);
                    for part in ["query", "key", "value", "out"] {
                        add(format!("{block}.{prefix}.{part}.weight"), &[n, n], f16_);
                        if part != "key" {
                            add(format!("{block}.{prefix}.{part}.bias"), &[n], f32_);
                        }
                    }
                };
                attention("attn");
                if side == "decoder" {
                    attention("cross_attn");
                }
                add(format!("{block}.mlp_ln.weight"), &[n], f32_);
                add(format!("{block}.mlp_ln.bias"), &[n], f32_);
                add(format!("{block}.mlp.0.weight"), &[n, 4 * n], f16_);
                add(format!("{block}.mlp.0.bias"), &[4 * n], f32_);
                add(format!("{block}.mlp.2.weight"), &[4 * n, n], f16_);
                add(format!("{block}.mlp.2.bias"), &[n], f32_);
            }
        }
        expected
    }

    fn f16_values(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect()
    }

    fn f32_values(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn converts_faster_whisper_tiny_en() {
        let model_dir = tiny_en_dir();
        let out_dir = tempfile::tempdir().unwrap();
        let output = out_dir.path().join("models/ggml-tiny.en.bin");

        let started = Instant::now();
        let report = convert(&model_dir, &output).unwrap();
        let elapsed = started.elapsed();
        eprintln!("converted in {elapsed:?}: {report:?}");

        let bytes = fs::read(&output).unwrap();
        assert_eq!(report.output_bytes, bytes.len() as u64);
        assert_eq!(report.output, output);
        let leftovers: Vec<_> = fs::read_dir(output.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers,
            vec![output.file_name().unwrap().to_owned()],
            "no temp files left"
        );

        let file = read_ggml(&bytes);
        assert_eq!(file.magic, 0x6767_6d6c);
        assert_eq!(
            file.hparams,
            [51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1],
            "n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx, \
             n_text_state, n_text_head, n_text_layer, n_mels, ftype"
        );
        let hparams = report.hparams;
        assert_eq!(
            hparams.in_file_order().map(|value| value as i32),
            file.hparams
        );

        assert_eq!(file.filters_shape, (80, 201));
        assert_eq!(file.filters, mel_filters(16_000, 400, 80));

        assert_eq!(file.vocab.len(), 50256);
        assert_eq!(report.vocab_tokens, 50256);
        assert_eq!(file.vocab[0], b"!");
        assert_eq!(file.vocab[220], b" ");
        assert_eq!(file.vocab[2634], "é".as_bytes(), "Ã© is two bytes");
        assert_eq!(file.vocab[38251], " é".as_bytes());
        assert_eq!(file.vocab[50255], b" gazed");

        let found: BTreeMap<String, (Vec<usize>, i32)> = file
            .tensors
            .iter()
            .map(|(name, tensor)| (name.clone(), (tensor.dims.clone(), tensor.ggml_type)))
            .collect();
        let expected = expected_tiny_tensors();
        assert_eq!(found, expected);
        assert_eq!(file.tensor_count, 167);
        assert_eq!(report.tensor_count, 167);

        // The data: compare a few tensors with model.bin itself.
        let model_path = model_dir.join("model.bin");
        let model_bytes = fs::read(&model_path).unwrap();
        let model = Ct2Model::parse(&model_path, &model_bytes).unwrap();
        let var = |name: &str| model.variables[name].data;
        let n = 384;
        let fused = var("encoder/layer_2/self_attention/linear_0/weight");
        let row_bytes = n * 2;
        for (index, part) in ["query", "key", "value"].into_iter().enumerate() {
            let tensor = &file.tensors[&format!("encoder.blocks.2.attn.{part}.weight")];
            assert_eq!(
                tensor.data,
                &fused[index * n * row_bytes..(index + 1) * n * row_bytes]
            );
        }
        let fused_bias = f16_values(var("decoder/layer_3/attention/linear_1/bias"));
        assert!(
            fused_bias[..n].iter().all(|&b| b == 0.0),
            "key bias is zero"
        );
        assert_eq!(
            f32_values(&file.tensors["decoder.blocks.3.cross_attn.value.bias"].data),
            fused_bias[n..]
        );
        let qkv_bias = f16_values(var("decoder/layer_0/self_attention/linear_0/bias"));
        assert!(
            qkv_bias[n..2 * n].iter().all(|&b| b == 0.0),
            "key bias is zero"
        );
        assert_eq!(
            f32_values(&file.tensors["decoder.blocks.0.attn.query.bias"].data),
            qkv_bias[..n]
        );
        assert_eq!(
            f32_values(&file.tensors["encoder.positional_embedding"].data),
            f16_values(var("encoder/position_encodings/encodings"))
        );
        assert_eq!(
            f32_values(&file.tensors["encoder.conv1.bias"].data),
            f16_values(var("encoder/conv1/bias"))
        );
        assert_eq!(
            file.tensors["decoder.token_embedding.weight"].data,
            var("decoder/embeddings/weight")
        );
    }

    /// A `model.bin` header and one f32 variable `name` of shape `dims` with `data`.
    fn tiny_model_bin(version: u32, spec: &str, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        let string = |bytes: &mut Vec<u8>, text: &str| {
            bytes.extend_from_slice(&(text.len() as u16 + 1).to_le_bytes());
            bytes.extend_from_slice(text.as_bytes());
            bytes.push(0);
        };
        bytes.extend_from_slice(&version.to_le_bytes());
        string(&mut bytes, spec);
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        string(&mut bytes, "encoder/conv1/bias");
        bytes.push(dims.len() as u8);
        for dim in dims {
            bytes.extend_from_slice(&dim.to_le_bytes());
        }
        bytes.push(0);
        let count: u32 = dims.iter().product();
        bytes.extend_from_slice(&(count * 4).to_le_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    fn convert_bytes(model_bin: &[u8]) -> (ConvertError, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("model.bin"), model_bin).unwrap();
        fs::write(dir.path().join("vocabulary.txt"), "!\n<|endoftext|>\n").unwrap();
        let output = dir.path().join("out/ggml.bin");
        let error = convert(dir.path(), &output).unwrap_err();
        assert!(!output.exists(), "no output on failure");
        (error, dir)
    }

    #[test]
    fn broken_model_files_are_errors_not_panics() {
        let (error, _dir) = convert_bytes(&[]);
        assert!(
            matches!(
                &error,
                ConvertError::Truncated {
                    offset: 0,
                    size: 0,
                    ..
                }
            ),
            "{error}"
        );

        let (error, _dir) = convert_bytes(&tiny_model_bin(5, "WhisperSpec", &[2], &[0; 8]));
        assert!(
            matches!(error, ConvertError::UnsupportedVersion { version: 5, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("only version 6"), "{error}");

        let (error, _dir) = convert_bytes(&tiny_model_bin(6, "TransformerSpec", &[2], &[0; 8]));
        assert!(matches!(error, ConvertError::NotWhisper { .. }), "{error}");

        // Cut at every byte of the header and the data.
        let whole = tiny_model_bin(6, "WhisperSpec", &[2], &[0; 8]);
        for cut in 0..whole.len() {
            let (error, _dir) = convert_bytes(&whole[..cut]);
            assert!(
                matches!(error, ConvertError::Truncated { size, .. } if size == cut),
                "cut at {cut}: {error}"
            );
        }
        // Complete but without the alias count.
        let (error, _dir) = convert_bytes(&whole);
        assert!(matches!(error, ConvertError::Truncated { .. }), "{error}");
        assert!(error.to_string().contains("alias count"), "{error}");

        let mut lying = tiny_model_bin(6, "WhisperSpec", &[2], &[0; 8]);
        let count_at = lying.len() - 8 - 4;
        lying[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let (error, _dir) = convert_bytes(&lying);
        assert!(matches!(error, ConvertError::Malformed { .. }), "{error}");

        // Well-formed, but not a whole whisper model.
        let mut complete = whole.clone();
        complete.extend_from_slice(&0u32.to_le_bytes());
        let (error, _dir) = convert_bytes(&complete);
        assert!(
            matches!(&error, ConvertError::MissingVariable { name, .. } if name == "encoder/conv1/weight"),
            "{error}"
        );
    }

    #[test]
    fn truncated_real_model_is_an_error() {
        let bytes = fs::read(tiny_en_dir().join("model.bin")).unwrap();
        for cut in [10, 1000, bytes.len() / 2, bytes.len() - 1] {
            let (error, _dir) = convert_bytes(&bytes[..cut]);
            assert!(
                matches!(error, ConvertError::Truncated { .. }),
                "cut at {cut}: {error}"
            );
        }
    }

    #[test]
    fn missing_folder_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let error = convert(&dir.path().join("nope"), &dir.path().join("out.bin")).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, ConvertError::Read { .. }), "{message}");
        assert!(message.contains("nope/model.bin"), "{message}");
        assert!(message.contains("fetch-test-models.sh"), "{message}");
    }
}
