//! Scene cards and thumbnails through the render child, read back with OCR.

use chute::video::render::{CardPlan, RenderLimits, ThumbnailPlan, render_card, render_thumbnail};
use chute_pixels::image::{Rgba, RgbaImage};

use super::*;

const HEADLINE: &str = "Serum Sáng Da Vitamin C";
const BODY: &str = "Làn da rạng rỡ chỉ sau mười bốn ngày";

/// A card with a Vietnamese headline over a transparent product PNG, and a typographic
/// card without one: both are PNGs of the planned size whose text reads back with its
/// diacritics.
#[tokio::test(flavor = "multi_thread")]
async fn cards_show_the_product_and_vietnamese_text() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A round "bottle" on a transparent background.
    let product = RgbaImage::from_fn(600, 900, |x, y| {
        let (dx, dy) = (x as f32 - 300.0, y as f32 - 450.0);
        if (dx / 250.0).powi(2) + (dy / 420.0).powi(2) < 1.0 {
            Rgba([240, 200, (y / 4) as u8, 255])
        } else {
            Rgba([0, 0, 0, 0])
        }
    });
    product.save(d.join("product.png")).unwrap();
    for (name, image) in [
        ("with.png", Some(d.join("product.png"))),
        ("without.png", None),
    ] {
        let plan = CardPlan {
            width: 720,
            height: 1280,
            colours: ["#1E3A8A".into(), "#DB2777".into()],
            product_image: image,
            headline: HEADLINE.into(),
            body: Some(BODY.into()),
            font: "Noto Sans Bold".into(),
            output: d.join(name),
        };
        render_card(exe(), &plan, &RenderLimits::default())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let card = image::open(d.join(name)).unwrap();
        assert_eq!((card.width(), card.height()), (720, 1280), "{name}");
        let read = ocr_light_text(&card.into_rgb8(), &d.join(format!("ocr-{name}")));
        assert_reads(HEADLINE, &read, 0.75, name);
        assert_reads(BODY, &read, 0.75, name);
    }
    // The product is on the first card: its colour is near the top-middle.
    let card = image::open(d.join("with.png")).unwrap().into_rgb8();
    let pixel = card.get_pixel(360, 330).0;
    assert!(
        pixel[0] > 200 && pixel[1] > 170,
        "product at the top: {pixel:?}"
    );
}

/// The thumbnail takes the most detailed candidate (a flat one and a broken one lose),
/// says why, and carries its text.
#[tokio::test(flavor = "multi_thread")]
async fn the_thumbnail_uses_the_most_detailed_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let flat = RgbImage::from_pixel(900, 1600, Rgb([90, 120, 150]));
    save(&flat, &d.join("flat.png"));
    save(&busy_image(900, 1600, 5), &d.join("busy.jpg"));
    std::fs::write(d.join("broken.png"), b"not a picture at all").unwrap();
    let plan = ThumbnailPlan {
        width: 720,
        height: 1280,
        candidates: vec![d.join("flat.png"), d.join("broken.png"), d.join("busy.jpg")],
        text: "Giảm giá 50% hôm nay".into(),
        font: "Noto Sans Bold".into(),
        output: d.join("thumbnail.png"),
    };
    let report = render_thumbnail(exe(), &plan, &RenderLimits::default())
        .await
        .unwrap();
    assert_eq!(report.chosen, 2, "{report:?}");
    assert_eq!(report.path, d.join("busy.jpg"));
    assert!(report.rule.contains("Laplacian"));
    assert!(report.candidates[1].problem.is_some());
    assert!(report.candidates[2].score > report.candidates[0].score);
    let thumbnail = image::open(d.join("thumbnail.png")).unwrap();
    assert_eq!((thumbnail.width(), thumbnail.height()), (720, 1280));
    let read = ocr_light_text(&band(&thumbnail.into_rgb8(), 0.6, 1.0), &d.join("text.png"));
    assert_reads("Giảm giá hôm nay", &read, 0.75, "thumbnail");
}
