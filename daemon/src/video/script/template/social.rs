//! The social posts of the template writer: a caption with the product, its best
//! point, the other points and the price; hashtags from the product's name (without
//! diacritics) and the style; a short thumbnail text and the hero shot's prompt.

use super::Writer;
use super::text::{capitalize, fill_checked, hashtag, words};
use crate::brief::Aspect;
use crate::video::script::schema::{
    CAPTION_MAX, HASHTAG_MAX, HASHTAGS, THUMBNAIL_PROMPT_MAX, THUMBNAIL_WORDS,
};
use crate::video::script::{Social, is_vietnamese, style_look};

/// Most hashtags the writer gives.
const MOST_TAGS: usize = 8;

impl Writer<'_> {
    /// The posts that go with the video.
    pub(super) fn social(&mut self) -> Social {
        let thumbnail_text = self.thumbnail_text();
        Social {
            caption: self.caption(),
            hashtags: self.hashtags(),
            thumbnail_prompt: self.thumbnail_prompt(&thumbnail_text),
            thumbnail_text,
        }
    }

    /// First line: product and best point; then each other point as a ticked line
    /// while the caption has room; last line: price and where to order.
    fn caption(&self) -> String {
        let copy = self.copy;
        let values = self.with_point(self.points.first().map(String::as_str));
        let head = if values.point.is_empty() {
            copy.caption_plain.of(self.family)
        } else {
            copy.caption.of(self.family)
        };
        let head = head
            .iter()
            .find_map(|phrasing| fill_checked(phrasing, &values))
            .unwrap_or_else(|| values.product.clone());
        let close = fill_checked(copy.caption_price, &values)
            .unwrap_or_else(|| copy.caption_order.to_owned());
        let mut caption = head;
        for point in self.points.iter().skip(1) {
            let line = format!("\n✔ {}", capitalize(point));
            if (caption.chars().count() + line.chars().count() + close.chars().count() + 1)
                > CAPTION_MAX
            {
                break;
            }
            caption.push_str(&line);
        }
        if caption.chars().count() + close.chars().count() < CAPTION_MAX {
            caption.push('\n');
            caption.push_str(&close);
        }
        caption
    }

    /// The product's name as a tag, its category (Vietnamese names start with it,
    /// English ones end with it), the style's and the market's tags: five to eight.
    fn hashtags(&self) -> Vec<String> {
        let name_words = words(&self.values.product);
        let mut candidates: Vec<String> = Vec::new();
        // The whole name, shortened from its end until it fits.
        for length in (1..=name_words.len()).rev() {
            if let Some(tag) = hashtag(&name_words[..length])
                && tag.chars().count() <= HASHTAG_MAX.min(30)
            {
                candidates.push(tag);
                break;
            }
        }
        let category = if is_vietnamese(&self.brief.language) {
            (name_words.len() > 3).then(|| &name_words[..3])
        } else {
            (name_words.len() > 2).then(|| &name_words[name_words.len() - 2..])
        };
        candidates.extend(category.and_then(hashtag));
        if !crate::brief::BUILT_IN_STYLES.contains(&self.brief.style.as_str()) {
            candidates.extend(hashtag(&words(&self.brief.style)).map(|tag| tag.to_lowercase()));
        }
        candidates.extend(
            self.copy
                .tags
                .of(self.family)
                .iter()
                .map(|tag| (*tag).to_owned()),
        );
        candidates.extend(self.copy.market_tags.iter().map(|tag| (*tag).to_owned()));
        let mut tags: Vec<String> = Vec::new();
        for tag in candidates {
            if tags.len() == MOST_TAGS {
                break;
            }
            if tag.chars().count() <= HASHTAG_MAX
                && !tags.iter().any(|kept| kept.eq_ignore_ascii_case(&tag))
            {
                tags.push(tag);
            }
        }
        debug_assert!(tags.len() >= *HASHTAGS.start());
        tags
    }

    /// The best point's first clause when it is short, else the price, else a line of
    /// the style.
    fn thumbnail_text(&self) -> String {
        let copy = self.copy;
        if let Some(point) = self.points.first() {
            let first = point
                .split([',', ';', '–', '—'])
                .next()
                .unwrap_or("")
                .trim();
            let count = first.split_whitespace().count();
            if (1..THUMBNAIL_WORDS).contains(&count) {
                return format!("{}!", capitalize(first));
            }
        }
        if let Some(text) = fill_checked(copy.thumbnail_price, &self.values)
            && text.split_whitespace().count() <= THUMBNAIL_WORDS
        {
            return text;
        }
        copy.thumbnail.of(self.family)[0].to_owned()
    }

    /// The hero shot: the product held by the host (with their anchors), room for
    /// the title.
    fn thumbnail_prompt(&self, thumbnail_text: &str) -> String {
        let values = &self.values;
        let description = if values.desc.is_empty() {
            String::new()
        } else {
            format!(" ({})", values.desc)
        };
        let anchors = self
            .cast
            .sheets
            .first()
            .map(|sheet| sheet.anchors.clone())
            .unwrap_or_default();
        let frame = match self.brief.aspect {
            Aspect::Portrait => "Vertical 9:16",
            Aspect::Square => "Square 1:1",
            Aspect::Landscape => "Horizontal 16:9",
        };
        let look = style_look(&self.brief.style);
        let render = |anchors: &[String]| {
            format!(
                "{frame} hero shot of the {}{description}, held by {} ({}), looking straight at the viewer, excited and confident; clean bright background, {look}; empty space at the top for the title \"{thumbnail_text}\"; no other text.",
                values.product,
                values.host,
                anchors.join("; ")
            )
        };
        (0..=anchors.len())
            .rev()
            .map(|kept| render(&anchors[..kept]))
            .find(|prompt| prompt.chars().count() <= THUMBNAIL_PROMPT_MAX)
            .unwrap_or_else(|| render(&[]).chars().take(THUMBNAIL_PROMPT_MAX).collect())
    }
}
