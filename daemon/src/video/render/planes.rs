//! Composed I420 pictures into GStreamer buffers, whose planes may have padded rows
//! and their own offsets. The pictures themselves live in chute-pixels.

pub use chute_pixels::{Planes, Scaler};

use super::error::RenderError;

/// Writes `planes` into a buffer laid out as `info` says (strides, offsets).
pub fn write_to(
    planes: &Planes,
    info: &gstreamer_video::VideoInfo,
    data: &mut [u8],
) -> Result<(), RenderError> {
    let short = || RenderError::Pipeline("the output buffer is smaller than a frame".into());
    let sizes = [
        (planes.width as usize, planes.height as usize),
        ((planes.width / 2) as usize, (planes.height / 2) as usize),
        ((planes.width / 2) as usize, (planes.height / 2) as usize),
    ];
    for (plane, (source, (w, h))) in [&planes.y, &planes.u, &planes.v]
        .into_iter()
        .zip(sizes)
        .enumerate()
    {
        let offset = info.offset().get(plane).copied().ok_or_else(short)?;
        let stride = info.stride().get(plane).copied().ok_or_else(short)? as usize;
        if stride == w {
            data.get_mut(offset..offset + w * h)
                .ok_or_else(short)?
                .copy_from_slice(source);
        } else {
            for row in 0..h {
                let at = offset + row * stride;
                data.get_mut(at..at + w)
                    .ok_or_else(short)?
                    .copy_from_slice(&source[row * w..(row + 1) * w]);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use gstreamer_video as gst_video;

    #[test]
    fn padded_rows_are_respected() {
        gstreamer::init().unwrap();
        // 540 wide: chroma rows of 270 bytes are padded to 272 by GStreamer.
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, 540, 4)
            .build()
            .unwrap();
        assert_eq!(info.stride()[1], 272);
        let mut planes = Planes::black(540, 4);
        planes.u.fill(7);
        let mut data = vec![0u8; info.size()];
        write_to(&planes, &info, &mut data).unwrap();
        let u = info.offset()[1];
        assert_eq!(&data[u..u + 270], &[7; 270][..]);
        assert_eq!(data[u + 272], 7, "the second row starts after the padding");
        assert!(write_to(&planes, &info, &mut data[..100]).is_err());
    }
}
