//! Hostile inputs end in a clean RenderError that names the input: never a panic in the
//! daemon, never a hang.

use std::time::{Duration, Instant};

use chute::video::render::plan::{EncoderSettings, MixSettings};
use chute::video::render::{
    CardPlan, Motion, PlanScene, RenderConsequence, RenderError, RenderLimits, VideoPlan, Visual,
    render_card, render_video,
};

use super::*;

fn still(image: PathBuf, seconds: f64) -> PlanScene {
    PlanScene {
        visual: Visual::Still {
            image,
            motion: Motion::for_scene(0),
        },
        voice: None,
        seconds,
        caption: "Xin chào".into(),
        caption_words: Vec::new(),
    }
}

fn small_plan(dir: &Path, scenes: Vec<PlanScene>) -> VideoPlan {
    VideoPlan {
        width: 270,
        height: 480,
        fps: 30,
        encoder: EncoderSettings::default(),
        crossfade_seconds: 0.4,
        font: "Noto Sans Bold".into(),
        scenes,
        music: None,
        mix: MixSettings::default(),
        output: dir.join("out.mp4"),
    }
}

async fn failure(plan: &VideoPlan, limits: &RenderLimits) -> RenderError {
    let started = Instant::now();
    let error = render_video(exe(), plan, limits, |_| {}).await.unwrap_err();
    assert!(
        started.elapsed() < limits.timeout + Duration::from_secs(5),
        "no hang"
    );
    assert!(!plan.output.exists(), "no output from a failed render");
    error
}

fn assert_bad_input(error: &RenderError, what: &str, reason: &str) {
    match error {
        RenderError::BadInput {
            what: named,
            reason: why,
            ..
        } => {
            assert_eq!(named, what, "{error}");
            assert!(why.contains(reason), "{error}");
        }
        other => panic!("expected a bad {what}, got {other:?}"),
    }
    assert_eq!(error.consequence(), RenderConsequence::FailJob);
}

/// A text file named .png, a truncated JPEG, a FIFO posing as a clip, audio posing as
/// a clip and a picture posing as a voice each fail the render, naming the scene.
#[tokio::test(flavor = "multi_thread")]
async fn unusable_inputs_fail_naming_their_scene() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    save(&busy_image(400, 400, 2), &d.join("good.png"));
    std::fs::write(d.join("fake.png"), b"<html>this is not an image</html>").unwrap();
    save(&busy_image(600, 600, 4), &d.join("whole.jpg"));
    let jpeg = std::fs::read(d.join("whole.jpg")).unwrap();
    std::fs::write(d.join("cut.jpg"), &jpeg[..jpeg.len() * 2 / 3]).unwrap();
    run("mkfifo", &[d.join("pipe.mp4").to_str().unwrap()]);
    let (speech, _) = speak(d, "speech", "vi", "Xin chào");
    let limits = RenderLimits {
        timeout: Duration::from_secs(60),
        ..RenderLimits::default()
    };

    let plan = small_plan(d, vec![still(d.join("fake.png"), 1.0)]);
    let error = failure(&plan, &limits).await;
    assert_bad_input(&error, "scene 1's image", "not a PNG, JPEG or WebP");

    let plan = small_plan(
        d,
        vec![
            still(d.join("good.png"), 1.0),
            still(d.join("cut.jpg"), 1.0),
        ],
    );
    assert_bad_input(
        &failure(&plan, &limits).await,
        "scene 2's image",
        "truncated",
    );

    let mut plan = small_plan(d, vec![still(d.join("good.png"), 1.0)]);
    plan.scenes.push(PlanScene {
        visual: Visual::Clip {
            video: d.join("pipe.mp4"),
        },
        voice: None,
        seconds: 1.0,
        caption: String::new(),
        caption_words: Vec::new(),
    });
    assert_bad_input(
        &failure(&plan, &limits).await,
        "scene 2's clip",
        "not a regular file",
    );

    plan.scenes[1].visual = Visual::Clip {
        video: speech.clone(),
    };
    assert_bad_input(&failure(&plan, &limits).await, "scene 2's clip", "video");

    let mut plan = small_plan(d, vec![still(d.join("good.png"), 1.0)]);
    plan.scenes[0].voice = Some(d.join("whole.jpg"));
    let error = failure(&plan, &limits).await;
    assert!(
        matches!(&error, RenderError::BadInput { what, .. } if what == "scene 1's voice"),
        "{error:?}"
    );

    let card = CardPlan {
        width: 360,
        height: 640,
        colours: ["#000000".into(), "#FFFFFF".into()],
        product_image: Some(d.join("cut.jpg")),
        headline: "Sản phẩm".into(),
        body: None,
        font: "Noto Sans Bold".into(),
        output: d.join("card.png"),
    };
    let error = render_card(exe(), &card, &limits).await.unwrap_err();
    assert_bad_input(&error, "the product image", "truncated");
    assert!(!d.join("card.png").exists());
}

/// A clip that keeps the child busy past its time limit is stopped; the error says
/// which scene's clip it was working on.
#[tokio::test(flavor = "multi_thread")]
async fn a_render_past_its_time_limit_is_stopped_naming_the_scene() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    save(&busy_image(400, 400, 2), &d.join("good.png"));
    let endless = clip(d, "endless.mp4", 60, 320, 240);
    let mut plan = small_plan(d, vec![still(d.join("good.png"), 0.5)]);
    plan.scenes.push(PlanScene {
        visual: Visual::Clip { video: endless },
        voice: None,
        seconds: 300.0,
        caption: String::new(),
        caption_words: Vec::new(),
    });
    let limits = RenderLimits {
        timeout: Duration::from_secs(3),
        ..RenderLimits::default()
    };
    let error = failure(&plan, &limits).await;
    match &error {
        RenderError::TimedOut { seconds, during } => {
            assert_eq!(*seconds, 3);
            let during = during.as_deref().unwrap_or_default();
            assert!(during.contains("scene 2's clip"), "{error}");
            assert!(during.contains("endless.mp4"), "{error}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(error.to_string().contains("scene 2's clip"));
}

/// A clip whose frames are too big for the child's memory limit kills the child (or
/// fails its decoder); either way the daemon gets an error naming the scene. The limit
/// is the smallest (in steps of 100 MiB) that renders the same video without the clip on
/// this machine; decoding 4K frames needs some 300 MiB more than that.
#[tokio::test(flavor = "multi_thread")]
async fn a_clip_that_breaks_the_child_fails_naming_the_scene() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    save(&busy_image(400, 400, 2), &d.join("good.png"));
    let huge = clip(d, "huge.mp4", 4, 3840, 2160);
    let mut plan = small_plan(d, vec![still(d.join("good.png"), 0.5)]);
    plan.encoder.threads = 2;
    let mut alone = plan.clone();
    plan.scenes.push(PlanScene {
        visual: Visual::Clip { video: huge },
        voice: None,
        seconds: 1.0,
        caption: String::new(),
        caption_words: Vec::new(),
    });
    let mut limits = RenderLimits {
        max_memory: 500 << 20,
        timeout: Duration::from_secs(10),
        ..RenderLimits::default()
    };
    alone.output = d.join("alone.mp4");
    while render_video(exe(), &alone, &limits, |_| {}).await.is_err() {
        limits.max_memory += 100 << 20;
        assert!(
            limits.max_memory < 4 << 30,
            "a small render needs less than 4 GiB"
        );
    }
    let error = failure(&plan, &limits).await;
    let text = error.to_string();
    assert!(text.contains("scene 2's clip"), "{error:?}");
    assert!(
        matches!(
            error,
            RenderError::Crashed { .. }
                | RenderError::BadInput { .. }
                | RenderError::TimedOut { .. }
        ),
        "{error:?}"
    );
}
