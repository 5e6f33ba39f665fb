//! Stopping whisper.cpp inside a call. whisper.cpp asks its abort callback after every
//! encoder pass (one 30 s window) and every decoder step, so a cancel or a shutdown
//! ends a chunk within about a second instead of when the chunk is done.
//!
//! whisper-rs 0.16's `set_abort_callback_safe` casts its boxed closure to the wrong
//! type (it aborts the process at random), so this module hands whisper.cpp a plain
//! function and a pointer to an `AtomicBool`. It is the crate's only unsafe code; the
//! reasoning is next to each block.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

use whisper_rs::{FullParams, WhisperError, WhisperState};

/// Runs `state.full(params, samples)`, ending it at whisper.cpp's next check once
/// `stop` is set (whisper.cpp then returns an error; the caller looks at `stop` to
/// tell a stop from a failure).
pub fn full_until_stopped(
    state: &mut WhisperState,
    mut params: FullParams<'_, '_>,
    samples: &[f32],
    stop: &AtomicBool,
) -> Result<(), WhisperError> {
    let flag: *const AtomicBool = stop;
    // SAFETY: whisper.cpp calls the callback only while `state.full` below runs (the
    // pointer is copied into the call's parameters, not kept by the state), with the
    // user data given here. That pointer comes from `stop`, which is borrowed for the
    // whole of this function, so it is valid for every call. `read_stop_flag` only
    // loads the atomic, which is sound from any of whisper.cpp's threads.
    unsafe {
        params.set_abort_callback(Some(read_stop_flag));
        params.set_abort_callback_user_data(flag.cast_mut().cast::<c_void>());
    }
    state.full(params, samples)
}

/// whisper.cpp's abort callback: `true` (abort) once the flag is set.
unsafe extern "C" fn read_stop_flag(user_data: *mut c_void) -> bool {
    // SAFETY: `user_data` is the `&AtomicBool` handed over in `full_until_stopped`,
    // valid while the call that uses it runs (see there); it is only read.
    let stop = unsafe { &*user_data.cast_const().cast::<AtomicBool>() };
    stop.load(Ordering::Relaxed)
}
