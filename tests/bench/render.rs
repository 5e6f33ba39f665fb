//! Render benchmark: chute's render child against ffmpeg doing the same composition in
//! the same run — six stills with Ken-Burns moves (ffmpeg: zoompan), 0.4 s crossfades
//! (xfade), burned-in Vietnamese captions in the same font (subtitles/libass), a voice
//! per scene, libx264 with the same preset, CRF and thread count, AAC, `+faststart`.
//!
//! `cargo bench --bench render` renders 6 scenes of 5 s at 1080x1920, 30 fps
//! (CHUTE_BENCH_SCENES, CHUTE_BENCH_THREADS override; CHUTE_BENCH_KEEP=1 keeps the
//! inputs, plan and outputs and prints their folder). ffmpeg is not installed by this
//! benchmark: without it only chute's numbers are printed. Under `cargo test` a small
//! smoke version runs, so the harness stays tested.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use chute::video::render::captions::{self, CaptionStyle};
use chute::video::render::plan::{EncoderSettings, MixSettings};
use chute::video::render::{Motion, PlanScene, RenderLimits, VideoPlan, Visual, render_video};
use chute_pixels::image::{Rgb, RgbImage};

const GOAL_RATIO: f64 = 1.0;
const SCENE_SECONDS: f64 = 5.0;
const CROSSFADE: f64 = 0.4;
const FONT: &str = "Noto Sans Bold";
const CAPTIONS: [&str; 6] = [
    "Serum Sáng Da C20 giúp da sáng đều màu sau mười bốn ngày.",
    "Chiết xuất vitamin C tự nhiên, dịu nhẹ cho mọi loại da.",
    "Thấm nhanh, không nhờn rít, dùng được cả sáng và tối.",
    "Hơn mười nghìn khách hàng đã tin dùng và hài lòng.",
    "Giảm ngay ba mươi phần trăm cho đơn hàng đầu tiên.",
    "Bấm vào giỏ hàng để mua ngay hôm nay nhé.",
];

struct Setup {
    width: u32,
    height: u32,
    scenes: usize,
    threads: u32,
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let setup = if full {
        Setup {
            width: 1080,
            height: 1920,
            scenes: env_number("CHUTE_BENCH_SCENES", 6).clamp(2, 6) as usize,
            threads: env_number("CHUTE_BENCH_THREADS", 2) as u32,
        }
    } else {
        Setup {
            width: 270,
            height: 480,
            scenes: 2,
            threads: 2,
        }
    };
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&base).expect("bench folder");
    let scratch = tempfile::tempdir_in(&base).expect("scratch folder");
    let dir = scratch.path().to_owned();
    let dir = dir.as_path();
    if std::env::var_os("CHUTE_BENCH_KEEP").is_some() {
        println!("keeping {}", scratch.keep().display());
    }
    let seconds = setup.scenes as f64 * SCENE_SECONDS;
    println!(
        "render benchmark: {} scenes of {SCENE_SECONDS} s at {}x{}, 30 fps, x264 veryfast CRF 23, {} threads",
        setup.scenes, setup.width, setup.height, setup.threads
    );
    let plan = fixtures(dir, &setup);
    std::fs::write(
        dir.join("plan.json"),
        serde_json::to_vec_pretty(&plan).expect("plan as JSON"),
    )
    .expect("plan file");

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let exe = Path::new(env!("CARGO_BIN_EXE_chute"));
    let started = Instant::now();
    let report = runtime
        .block_on(render_video(exe, &plan, &RenderLimits::default(), |_| {}))
        .expect("chute renders");
    let chute = started.elapsed().as_secs_f64();
    println!(
        "chute:  {chute:>6.2} s wall  RTF {:.3}  ({} frames, {} caption chunks, {} KiB)",
        chute / seconds,
        report.frames,
        report.captions,
        file_kib(&plan.output)
    );

    if Command::new("ffmpeg").arg("-version").output().is_err() {
        println!(
            "ffmpeg not found: apt-get install ffmpeg (only chute's real-time factor is shown)"
        );
        return;
    }
    let output = dir.join("ffmpeg.mp4");
    let command = ffmpeg_command(dir, &plan, &setup, &output);
    let quoted: Vec<String> = command
        .iter()
        .map(|arg| format!("'{}'", arg.replace('\'', "'\\''")))
        .collect();
    std::fs::write(
        dir.join("ffmpeg.sh"),
        format!("ffmpeg {}\n", quoted.join(" ")),
    )
    .expect("ffmpeg command file");
    let started = Instant::now();
    let status = Command::new("ffmpeg")
        .args(&command)
        .status()
        .expect("ffmpeg runs");
    let ffmpeg = started.elapsed().as_secs_f64();
    assert!(
        status.success(),
        "ffmpeg failed: ffmpeg {}",
        command.join(" ")
    );
    println!(
        "ffmpeg: {ffmpeg:>6.2} s wall  RTF {:.3}  ({} KiB)",
        ffmpeg / seconds,
        file_kib(&output)
    );
    let ratio = chute / ffmpeg;
    println!(
        "chute / ffmpeg = {ratio:.2} (goal <= {GOAL_RATIO:.1}: {})",
        if ratio <= GOAL_RATIO {
            "met"
        } else {
            "NOT met"
        }
    );
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn file_kib(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len() / 1024).unwrap_or(0)
}

/// Photos-like stills (1600x2400: smooth gradients, shapes and texture), a Vietnamese
/// voice per scene, and the plan.
fn fixtures(dir: &Path, setup: &Setup) -> VideoPlan {
    let mut scenes = Vec::new();
    for (index, caption) in CAPTIONS.iter().enumerate().take(setup.scenes) {
        let image = dir.join(format!("scene{index}.jpg"));
        still(index as u32).save(&image).expect("fixture image");
        let voice = dir.join(format!("voice{index}.wav"));
        let spoken = Command::new("espeak-ng")
            .args(["-v", "vi", "-w"])
            .arg(&voice)
            .arg(caption)
            .status()
            .is_ok_and(|status| status.success());
        scenes.push(PlanScene {
            visual: Visual::Still {
                image,
                motion: Motion::for_scene(index),
            },
            voice: spoken.then_some(voice),
            seconds: SCENE_SECONDS,
            caption: (*caption).to_owned(),
            caption_words: Vec::new(),
        });
    }
    VideoPlan {
        width: setup.width,
        height: setup.height,
        fps: 30,
        encoder: EncoderSettings {
            threads: setup.threads,
            ..EncoderSettings::default()
        },
        crossfade_seconds: CROSSFADE,
        font: FONT.to_owned(),
        scenes,
        music: None,
        mix: MixSettings::default(),
        output: dir.join("chute.mp4"),
    }
}

fn still(seed: u32) -> RgbImage {
    let (width, height) = (1600, 2400);
    let s = seed as f32;
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let sky = 120.0 + 100.0 * (fy * 3.0 + s).sin();
        let disc = ((fx - 0.3 - 0.05 * s).powi(2) + (fy - 0.5).powi(2)).sqrt() < 0.18;
        let texture = ((x / 12 + y / 12 + seed) % 2) as f32 * 18.0;
        let grain = ((x.wrapping_mul(2654435761) ^ y.wrapping_mul(97)) >> 9) % 24;
        let base = if disc { 230.0 } else { sky };
        Rgb([
            (base * 0.9 + texture) as u8,
            (base * 0.6 + fx * 80.0) as u8,
            (100.0 + fy * 120.0 + grain as f32) as u8,
        ])
    })
}

/// ffmpeg doing what the plan asks: per still a cover crop and a zoompan move like
/// chute's, xfade at each cut (the scenes overlap so the total is the same), the same
/// caption chunks at the same times in an ASS file (same font, size, outline, place),
/// voices delayed to their slots, libx264 with the same settings.
fn ffmpeg_command(dir: &Path, plan: &VideoPlan, setup: &Setup, output: &Path) -> Vec<String> {
    let (w, h) = (plan.width, plan.height);
    let count = plan.scenes.len();
    let mut args: Vec<String> = ["-hide_banner", "-loglevel", "error", "-y"]
        .map(String::from)
        .to_vec();
    let mut filter = String::new();
    for (index, scene) in plan.scenes.iter().enumerate() {
        let Visual::Still { image, .. } = &scene.visual else {
            unreachable!("the benchmark uses stills")
        };
        args.extend(["-i".into(), image.display().to_string()]);
        // Each scene is on screen for its slot plus half a crossfade at each inner cut.
        let shown = SCENE_SECONDS
            + if index > 0 { CROSSFADE / 2.0 } else { 0.0 }
            + if index + 1 < count {
                CROSSFADE / 2.0
            } else {
                0.0
            };
        let frames = (shown * 30.0).round() as u32;
        let (z, x, y) = match index % 5 {
            0 => (
                format!("1+0.2195*on/{frames}"),
                "iw/2-iw/zoom/2",
                "ih/2-ih/zoom/2".to_owned(),
            ),
            1 => (
                format!("1.2195-0.2195*on/{frames}"),
                "iw/2-iw/zoom/2",
                "ih/2-ih/zoom/2".to_owned(),
            ),
            2 => (
                "1.2195".into(),
                "(iw-iw/zoom)*on/FRAMES",
                "ih/2-ih/zoom/2".to_owned(),
            ),
            3 => (
                "1.2195".into(),
                "(iw-iw/zoom)*(1-on/FRAMES)",
                "ih/2-ih/zoom/2".to_owned(),
            ),
            _ => (
                "1.2195".into(),
                "(iw-iw/zoom)*on/FRAMES",
                "(ih-ih/zoom)*on/FRAMES".to_owned(),
            ),
        };
        let x = x.replace("FRAMES", &frames.to_string());
        let y = y.replace("FRAMES", &frames.to_string());
        // Cover crop to the frame's aspect at the working size chute uses (1/0.82 of the
        // frame), then the move.
        let work_w = (f64::from(w) / 0.82).round() as u32 / 2 * 2;
        let work_h = (f64::from(h) / 0.82).round() as u32 / 2 * 2;
        let _ = write!(
            filter,
            "[{index}:v]scale={work_w}:{work_h}:force_original_aspect_ratio=increase,crop={work_w}:{work_h},zoompan=z='{z}':x='{x}':y='{y}':d={frames}:s={w}x{h}:fps=30,setsar=1,format=yuv420p[s{index}];"
        );
    }
    let mut previous = "s0".to_owned();
    let mut length = SCENE_SECONDS + CROSSFADE / 2.0;
    for index in 1..count {
        let offset = length - CROSSFADE;
        let out = format!("x{index}");
        let _ = write!(
            filter,
            "[{previous}][s{index}]xfade=transition=fade:duration={CROSSFADE}:offset={offset:.3}[{out}];"
        );
        let shown = SCENE_SECONDS
            + CROSSFADE / 2.0
            + if index + 1 < count {
                CROSSFADE / 2.0
            } else {
                0.0
            };
        length = offset + shown;
        previous = out;
    }
    let ass = dir.join("captions.ass");
    std::fs::write(&ass, ass_file(plan)).expect("ASS file");
    let _ = write!(filter, "[{previous}]subtitles={}[video];", ass.display());
    let mut voices = 0;
    for (index, scene) in plan.scenes.iter().enumerate() {
        if let Some(voice) = &scene.voice {
            args.extend(["-i".into(), voice.display().to_string()]);
            let delay = (index as f64 * SCENE_SECONDS * 1000.0).round() as u64;
            let _ = write!(
                filter,
                "[{}:a]aresample=48000,aformat=channel_layouts=stereo,adelay={delay}|{delay}[a{voices}];",
                count + voices
            );
            voices += 1;
        }
    }
    let inputs: String = (0..voices).map(|i| format!("[a{i}]")).collect();
    let _ = write!(
        filter,
        "{inputs}amix=inputs={voices}:normalize=0,apad,atrim=0:{}[audio]",
        count as f64 * SCENE_SECONDS
    );
    args.extend(["-filter_complex".into(), filter]);
    args.extend(
        [
            "-map",
            "[video]",
            "-map",
            "[audio]",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "23",
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ar",
            "48000",
            "-movflags",
            "+faststart",
        ]
        .map(String::from),
    );
    args.extend(["-threads".into(), setup.threads.to_string()]);
    args.push(output.display().to_string());
    args
}

/// The same caption chunks, times, font, size and placement as chute's, in ASS.
fn ass_file(plan: &VideoPlan) -> String {
    let style = CaptionStyle::for_frame(plan.width, plan.height);
    let texts: Vec<&str> = plan.scenes.iter().map(|s| s.caption.as_str()).collect();
    let slots: Vec<(f64, f64)> = (0..plan.scenes.len())
        .map(|i| (i as f64 * SCENE_SECONDS, SCENE_SECONDS))
        .collect();
    let margin = (f64::from(plan.height) * 0.2).round();
    let mut text = format!(
        "[Script Info]\nScriptType: v4.00+\nPlayResX: {}\nPlayResY: {}\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\nStyle: Default,Noto Sans,{},&H00FFFFFF,&H00FFFFFF,&H00000000,&H80000000,-1,0,0,0,100,100,0,0,1,3,0,2,40,40,{margin},1\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n",
        plan.width, plan.height, style.font_px
    );
    for cue in captions::cues(&texts, &[], &slots, style) {
        let _ = writeln!(
            text,
            "Dialogue: 0,{},{},Default,,0,0,0,,{}",
            ass_time(cue.start),
            ass_time(cue.end),
            cue.text.replace('\n', "\\N")
        );
    }
    text
}

fn ass_time(seconds: f64) -> String {
    let centis = (seconds * 100.0).round() as u64;
    format!(
        "{}:{:02}:{:02}.{:02}",
        centis / 360_000,
        centis / 6000 % 60,
        centis / 100 % 60,
        centis % 100
    )
}
