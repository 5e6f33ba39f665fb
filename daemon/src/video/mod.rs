//! The sales-video domain: what a brief becomes on its way to a finished video (the
//! script first). The pipeline's stages live in [`crate::pipeline`]; this module holds
//! the data they pass on and the local writers that need no provider.

pub mod script;
