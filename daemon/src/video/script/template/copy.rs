//! The shape of one language's copy: phrasings per part of the arc and per style
//! family, with `{product}`, `{point}`/`{Point}`, `{price}`, `{idea}`/`{Idea}`,
//! `{desc}`/`{Desc}` and `{host}` slots (a capital slot starts a sentence). A phrasing
//! whose slot has nothing to fill it (no price, no description) is never chosen.

/// The style families the copy is written for; a configured style writes like `Viral`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    /// Fast, loud, made to stop the scroll (`viral` and configured styles).
    Viral,
    /// A creator trying the product honestly (`koc-review`).
    Review,
    /// A small story told by someone who uses it (`storytelling`).
    Story,
}

impl Family {
    /// The family of a brief's style.
    pub(super) fn of(style: &str) -> Family {
        match style {
            "koc-review" => Family::Review,
            "storytelling" => Family::Story,
            _ => Family::Viral,
        }
    }

    /// Its position in per-family tables.
    pub(super) fn index(self) -> usize {
        match self {
            Family::Viral => 0,
            Family::Review => 1,
            Family::Story => 2,
        }
    }
}

/// Phrasings for each style family.
pub(super) struct Styled {
    /// `viral` (and configured styles).
    pub viral: &'static [&'static str],
    /// `koc-review`.
    pub review: &'static [&'static str],
    /// `storytelling`.
    pub story: &'static [&'static str],
}

impl Styled {
    /// The phrasings of one family.
    pub(super) fn of(&self, family: Family) -> &'static [&'static str] {
        match family {
            Family::Viral => self.viral,
            Family::Review => self.review,
            Family::Story => self.story,
        }
    }
}

/// A presenter the writer invents when the brief has no characters.
pub(super) struct Presenter {
    /// Their name.
    pub name: &'static str,
    /// Their part.
    pub role: &'static str,
    /// Five visual traits, comma-separated (they become the anchors).
    pub look: &'static str,
}

/// What each kind of scene shows, for a person reading the script.
pub(super) struct Describe {
    pub hook: &'static str,
    pub idea: &'static str,
    pub problem: &'static str,
    pub point: &'static str,
    pub point_plain: &'static str,
    pub demo: &'static str,
    pub proof: &'static str,
    pub lifestyle: &'static str,
    pub offer: &'static str,
    pub cta: &'static str,
    pub single: &'static str,
}

/// One language's copy.
pub(super) struct Copy {
    /// The opening line: names the product.
    pub hook: Styled,
    /// After the hook of a two-scene video: the best selling point.
    pub hook_point: Styled,
    /// After the brief's idea, spoken as the second scene.
    pub idea_tail: Styled,
    /// The problem, when the brief has no idea.
    pub problem: Styled,
    /// One selling point (any of them).
    pub point: Styled,
    /// A selling point after another one ("another plus").
    pub point_more: Styled,
    /// A selling point said a second time, in a long video.
    pub point_again: Styled,
    /// After a selling point, when time allows.
    pub point_tail: Styled,
    /// A close look, when the brief lists no selling points.
    pub point_plain: Styled,
    /// The product in use.
    pub demo: Styled,
    /// After the demo, when time allows.
    pub demo_tail: Styled,
    /// Proof it holds up (long videos).
    pub proof: Styled,
    /// The product in everyday life (long videos).
    pub lifestyle: Styled,
    /// The price.
    pub offer: Styled,
    /// The last scene, when an earlier one said the price (or there is none).
    pub cta: Styled,
    /// The last scene, saying the price.
    pub cta_price: Styled,
    /// A one-scene video: product and best point…
    pub single: Styled,
    /// …or the product alone when there is no selling point…
    pub single_plain: Styled,
    /// …then a short call to action…
    pub short_cta: Styled,
    /// …or one with the price.
    pub short_cta_price: Styled,
    /// Scene descriptions.
    pub describe: Describe,
    /// The caption's first line: product and best point.
    pub caption: Styled,
    /// The caption's first line without a selling point.
    pub caption_plain: Styled,
    /// The caption's last line with a price.
    pub caption_price: &'static str,
    /// The caption's last line without one.
    pub caption_order: &'static str,
    /// The thumbnail text when the best point is too long for it.
    pub thumbnail_price: &'static str,
    /// The thumbnail text without a short point or a price.
    pub thumbnail: Styled,
    /// Hashtags of the style.
    pub tags: Styled,
    /// Hashtags of the market.
    pub market_tags: &'static [&'static str],
    /// Invented presenters: viral, review, story.
    pub presenters: [Presenter; 3],
    /// The role of a brief character who has none.
    pub default_roles: Styled,
    /// The look of a brief character described by nothing.
    pub default_look: &'static str,
    /// The look of a brief character known only from a photo.
    pub photo_look: &'static str,
    /// Anchors that suit a reviewer.
    pub anchors_reviewer: &'static [&'static str],
    /// Anchors that suit a customer.
    pub anchors_customer: &'static [&'static str],
    /// Anchors that suit a narrator.
    pub anchors_narrator: &'static [&'static str],
    /// Anchors that suit a presenter.
    pub anchors_presenter: &'static [&'static str],
    /// Anchors that suit the style.
    pub anchors_style: Styled,
    /// Anchors that suit anyone (enough to fill five on their own).
    pub anchors_generic: &'static [&'static str],
}
