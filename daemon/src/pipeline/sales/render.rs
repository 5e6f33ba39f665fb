//! The `render` stage: the scenes become `out/final.mp4` (in the render child: every
//! clip fitted to its voiceover, crossfades, voice over ducked music, burned-in
//! captions, H.264 + AAC with faststart), `out/captions.srt` timed from the measured
//! voiceovers (one cue per voiceover line), and `out/thumbnail.png` with the thumbnail
//! text over the best scene image.

use std::path::Path;

use serde_json::json;

use super::clips::{ClipKind, SceneClip, scene_items};
use super::images::SceneImage;
use super::scenes::{CLIPS, IMAGES, VOICE};
use super::voice::SceneVoice;
use super::{load_assets, load_brief, read_work_json};
use crate::media::subtitles::{self, Cue};
use crate::pipeline::{Stage, StageContext, StageError, StageFuture, StageOutputs};
use crate::spool::fsutil;
use crate::video::render::{self, PlanScene, ThumbnailPlan, Visual};
use crate::video::script::Script;

/// The delivered video's name.
pub const FINAL_VIDEO: &str = "final.mp4";

/// Renders the video, its captions and its thumbnail.
pub struct Render;

impl Stage for Render {
    fn name(&self) -> &'static str {
        "render"
    }

    fn run<'a>(&'a self, context: &'a StageContext) -> StageFuture<'a> {
        Box::pin(async move {
            let brief = load_brief(context)?;
            let script: Script = read_work_json(context, "script.json", "script")?;
            let count = script.scenes.len();
            let clips: Vec<SceneClip> = scene_items(context, CLIPS, count)?;
            let voices: Vec<SceneVoice> = scene_items(context, VOICE, count)?;
            let images: Vec<SceneImage> = scene_items(context, IMAGES, count)?;
            let assets = load_assets(context)?;
            let settings = &context.config.sales_video.render;
            let (width, height) = settings.size(brief.aspect);
            let out = context.job.out_dir();
            let job = &context.job.path;
            let scenes: Vec<PlanScene> = (0..count)
                .map(|index| PlanScene {
                    visual: match clips[index].kind {
                        ClipKind::Video => Visual::Clip {
                            video: job.join(&clips[index].file),
                        },
                        ClipKind::KenBurns => Visual::Still {
                            image: job.join(&clips[index].file),
                            motion: clips[index]
                                .motion
                                .unwrap_or_else(|| render::Motion::for_scene(index)),
                        },
                    },
                    voice: Some(job.join(&voices[index].file)),
                    seconds: voices[index].seconds,
                    caption: script.scenes[index].voiceover.clone(),
                    caption_words: voices[index].words.clone(),
                })
                .collect();
            let total: f64 = scenes.iter().map(|scene| scene.seconds).sum();
            write_captions(context, &out, &script, &voices)?;
            let plan = settings.video_plan(
                brief.aspect,
                scenes,
                assets.get("music").cloned(),
                out.join(FINAL_VIDEO),
            );
            let executable = crate::pipeline::child_executable()?;
            let limits = settings.limits(context.config.limits.child_cpu_cores);
            context.progress(
                0,
                &format!("rendering {count} scenes, {total:.1} s at {width}x{height}"),
            );
            // The video's room is reserved first: its bound comes from the plan's
            // bitrates (constant quality is taken at 12 Mbit/s, beyond what scenes of
            // stills and clips reach), so renders and decodes never overcommit the disk.
            let reservation = context
                .reserve_space(video_bound(&plan.encoder, total), &out.join(FINAL_VIDEO))
                .await?;
            let mut last_percent = 0;
            let report = context
                .signals()
                .run(render::render_video(&executable, &plan, &limits, |done| {
                    let percent = (done * 90.0).clamp(0.0, 90.0) as u8;
                    if percent >= last_percent + 10 {
                        last_percent = percent;
                        context.progress(
                            percent,
                            &format!("rendered {:.0} of {total:.0} s", done * total),
                        );
                    }
                }))
                .await?
                .map_err(|error| super::render_failure("the render failed", error))?;
            drop(reservation);
            context.progress(92, "drawing the thumbnail");
            let candidates = images.iter().map(|image| job.join(&image.file)).collect();
            let thumbnail = ThumbnailPlan {
                width,
                height,
                candidates,
                text: script.social_media.thumbnail_text.clone(),
                font: settings.font.clone(),
                output: out.join("thumbnail.png"),
            };
            let chosen = context
                .signals()
                .run(render::render_thumbnail(&executable, &thumbnail, &limits))
                .await?
                .map_err(|error| super::render_failure("the thumbnail failed", error))?;
            context.progress(
                100,
                &format!("{FINAL_VIDEO}: {:.1} s", report.duration_seconds),
            );
            let mut outputs = StageOutputs::new();
            outputs.insert("video".into(), json!(FINAL_VIDEO));
            outputs.insert("width".into(), json!(width));
            outputs.insert("height".into(), json!(height));
            outputs.insert("seconds".into(), json!(report.duration_seconds));
            outputs.insert("voice_seconds".into(), json!(total));
            outputs.insert("report".into(), json!(report));
            outputs.insert("thumbnail".into(), json!(chosen));
            outputs.insert(
                "cost".into(),
                cost_summary(context, &brief, &clips, &voices, &images),
            );
            Ok(outputs)
        })
    }
}

/// The estimate beside what the provider calls of this job actually cost.
fn cost_summary(
    context: &StageContext,
    brief: &crate::brief::Brief,
    clips: &[SceneClip],
    voices: &[SceneVoice],
    images: &[SceneImage],
) -> serde_json::Value {
    let estimated = crate::video::estimate::estimate(&context.config, brief);
    let script_calls = context
        .state
        .stages
        .iter()
        .find(|stage| stage.name == "script")
        .and_then(|stage| stage.outputs.get("calls"))
        .and_then(|calls| calls.as_array().cloned())
        .unwrap_or_default();
    let calls = script_calls
        .iter()
        .chain(images.iter().flat_map(|image| &image.calls))
        .chain(clips.iter().flat_map(|clip| &clip.calls))
        .chain(voices.iter().flat_map(|voice| &voice.calls));
    let mut actual = 0.0;
    let mut count = 0;
    let mut by_provider = std::collections::BTreeMap::<String, u32>::new();
    for call in calls {
        count += 1;
        actual += call
            .get("cost")
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0);
        if let Some(provider) = call.get("provider").and_then(serde_json::Value::as_str) {
            *by_provider.entry(provider.to_owned()).or_default() += 1;
        }
    }
    json!({
        "currency": estimated.currency,
        "estimated": estimated.cost,
        "estimated_calls": estimated.calls,
        "actual": actual,
        "calls": count,
        "calls_by_provider": by_provider,
    })
}

/// `out/captions.srt`: one cue per voiceover line, timed by the measured voiceovers
/// laid end to end (as the render lays them), from the first spoken word to the last
/// when the speech provider aligned them.
fn write_captions(
    context: &StageContext,
    out: &Path,
    script: &Script,
    voices: &[SceneVoice],
) -> Result<(), StageError> {
    let mut start = 0.0;
    let cues: Vec<Cue> = script
        .scenes
        .iter()
        .zip(voices)
        .map(|(scene, voice)| {
            let end = start + voice.seconds;
            // With word timings the cue runs from the first word to the last.
            let (from, to) = match (voice.words.first(), voice.words.last()) {
                (Some(first), Some(last)) if first.start < last.end => (
                    start + first.start.clamp(0.0, voice.seconds),
                    start + last.end.clamp(0.0, voice.seconds),
                ),
                _ => (start, end),
            };
            let cue = Cue {
                start_ms: subtitles::millis(from),
                end_ms: subtitles::millis(to),
                lines: caption_lines(&scene.voiceover, subtitles::MAX_LINE_CHARS),
            };
            start = end;
            cue
        })
        .collect();
    fsutil::write_atomic(
        &out.join("captions.srt"),
        subtitles::to_srt(&cues).as_bytes(),
        context.config.spool.fsync,
    )?;
    Ok(())
}

/// A caption broken into lines of at most `width` characters: at spaces, or anywhere
/// in text written without them (Chinese, Japanese, Thai).
pub fn caption_lines(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_owned();
        loop {
            let needed = if line.is_empty() { 0 } else { 1 } + word.chars().count();
            if line.chars().count() + needed <= width {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if line.is_empty() {
                // A word (or a run of CJK text) longer than a line: cut it.
                let head: String = word.chars().take(width).collect();
                word = word.chars().skip(width).collect();
                lines.push(head);
                if word.is_empty() {
                    break;
                }
            } else {
                lines.push(std::mem::take(&mut line));
            }
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The most bytes a video of `seconds` encoded with `encoder` takes: its video and
/// audio bitrates (12 Mbit/s for constant quality), a tenth more for the container,
/// and 1 MiB.
fn video_bound(encoder: &crate::video::render::plan::EncoderSettings, seconds: f64) -> u64 {
    let kbps =
        u64::from(encoder.bitrate_kbps.unwrap_or(12_000)) + u64::from(encoder.audio_bitrate_kbps);
    let bytes = (seconds.max(0.0) * kbps as f64 * 1000.0 / 8.0) as u64;
    bytes.saturating_add(bytes / 10).saturating_add(1 << 20)
}

#[cfg(test)]
mod tests {
    use super::caption_lines;

    #[test]
    fn captions_break_at_spaces_and_inside_unspaced_text() {
        let lines = caption_lines("Serum Sáng Da C20 giúp da sáng đều màu sau 14 ngày", 20);
        assert_eq!(
            lines,
            ["Serum Sáng Da C20", "giúp da sáng đều màu", "sau 14 ngày"]
        );
        let chinese = caption_lines("这款精华让肌肤在十四天内变得明亮均匀", 8);
        assert_eq!(chinese, ["这款精华让肌肤在", "十四天内变得明亮", "均匀"]);
        assert!(caption_lines("   ", 10).is_empty());
    }
}
