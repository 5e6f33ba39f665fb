//! English copy of the template writer (also used for every language without copy of
//! its own).

use super::copy::{Copy, Describe, Presenter, Styled};

/// The English phrasings.
pub(super) const COPY: Copy = Copy {
    hook: Styled {
        viral: &[
            "Stop scrolling! The {product} is blowing up right now.",
            "Everyone keeps asking about the {product}, so here it is!",
            "Wait, you need to see the {product}!",
        ],
        review: &[
            "Honest review time: the {product}.",
            "I used the {product} for a whole week. Here's the truth.",
            "Is the {product} worth it? I tested it for you.",
        ],
        story: &[
            "I never thought I needed the {product}, until that day.",
            "My story with the {product} started by accident.",
            "One small thing changed my whole day: the {product}.",
        ],
    },
    hook_point: Styled {
        viral: &["Best part? {Point}!", "No joke: {point}!"],
        review: &["My favourite part: {point}.", "The big plus: {point}."],
        story: &["What changed it: {point}.", "The difference: {point}."],
    },
    idea_tail: Styled {
        viral: &["Sound familiar?", "We've all been there!"],
        review: &["Maybe you've been there too.", "I've been there, honestly."],
        story: &["That's where it all began.", "Just an ordinary day."],
    },
    problem: Styled {
        viral: &[
            "Ever bought something that looked great online and flopped?",
            "Tired of stuff that never lasts?",
        ],
        review: &[
            "I've tried plenty of lookalikes, none were right.",
            "I kept searching for one that actually works.",
        ],
        story: &[
            "Every day, the same small hassle got in my way.",
            "Some little problems show up every single day.",
        ],
    },
    point: Styled {
        viral: &[
            "{Point}. Game changer!",
            "Best part? {Point}!",
            "No joke: {point}!",
            "Look at this: {point}.",
        ],
        review: &[
            "My favourite part: {point}.",
            "I checked it myself: {point}, as promised.",
            "{Point}, and that's worth paying for.",
            "Honestly? {Point}, and I love it.",
        ],
        story: &[
            "Then I noticed: {point}.",
            "What surprised me most: {point}.",
            "Turns out the secret was simple: {point}.",
            "A small thing I love: {point}.",
        ],
    },
    point_more: Styled {
        viral: &["One more reason to love it: {point}.", "And wait, {point}!"],
        review: &["Another plus: {point}.", "Next thing I checked: {point}."],
        story: &[
            "From then on, I could count on it: {point}.",
            "And then, {point}.",
        ],
    },
    point_again: Styled {
        viral: &[
            "Say it again: {point}!",
            "Still can't get over it: {point}!",
        ],
        review: &[
            "Worth saying twice: {point}.",
            "Remember this one: {point}.",
        ],
        story: &[
            "I keep coming back to it: {point}.",
            "Every time, the same: {point}.",
        ],
    },
    point_tail: Styled {
        viral: &["So good!", "Everyone wants one.", "You'll want it too."],
        review: &[
            "Big thumbs up from me.",
            "You notice it right away.",
            "Totally worth it.",
        ],
        story: &[
            "Small thing, big difference.",
            "I finally relaxed.",
            "A simple joy.",
        ],
    },
    point_plain: Styled {
        viral: &[
            "Look closer at the {product}, the quality shows!",
            "Every detail of the {product} is on point!",
            "{Desc}!",
        ],
        review: &[
            "Here's the {product} up close, take a good look.",
            "The finish on the {product} is really neat.",
            "{Desc}.",
        ],
        story: &[
            "Up close, the {product} is finer than I thought.",
            "I looked closer, and every detail was right.",
            "{Desc}.",
        ],
    },
    demo: Styled {
        viral: &[
            "Watch this, the {product} in action!",
            "Let me just show you, no talking needed!",
        ],
        review: &[
            "Real test, right here on camera.",
            "I'm trying it live for you now.",
            "No tricks, this is real use.",
        ],
        story: &[
            "And this is how it stays with me every day.",
            "Every day it quietly does its job.",
        ],
    },
    demo_tail: Styled {
        viral: &["{Desc}!", "That's next level!"],
        review: &["{Desc}.", "The results speak for themselves."],
        story: &["{Desc}.", "Simple, and I can trust it."],
    },
    proof: Styled {
        viral: &[
            "Worth every penny!",
            "Everyone asks me where I got it!",
            "The more I use it, the clearer it gets: {point}!",
        ],
        review: &[
            "Used daily and it still looks new.",
            "Days later, it still delivers: {point}.",
            "My friends tried it and all asked for the link.",
        ],
        story: &[
            "Now it's something I can't do without.",
            "Day after day, I'm more sure I chose right.",
            "Every time I use it, I love it a little more.",
        ],
    },
    lifestyle: Styled {
        viral: &[
            "Work, weekend or home, the {product} handles it all!",
            "Take it anywhere, it just fits!",
        ],
        review: &[
            "Home or out, I bring the {product} along.",
            "It comes everywhere with me now.",
        ],
        story: &[
            "From the office to weekend trips, it's always with me.",
            "Morning to evening, it's right there with me.",
        ],
    },
    offer: Styled {
        viral: &[
            "Only {price}, can you believe it?",
            "Just {price}, grab it before it's gone!",
        ],
        review: &[
            "Just {price}, a steal for this quality.",
            "{price} for something this good? Worth it.",
        ],
        story: &[
            "And all of it for just {price}.",
            "Only {price}, for a small change that matters.",
        ],
    },
    cta: Styled {
        viral: &[
            "Tap the link now before it sells out!",
            "Hit the cart button, link's right below!",
        ],
        review: &[
            "Link's in the cart, grab yours before it's gone!",
            "Want to try it? Tap the cart below.",
        ],
        story: &[
            "If you need that too, the {product} is waiting for you.",
            "Tap the cart and start your own story.",
        ],
    },
    cta_price: Styled {
        viral: &[
            "Only {price}, tap the cart and grab the {product}!",
            "The {product} for {price}, order now!",
        ],
        review: &[
            "Just {price}, the link's in the cart!",
            "It's {price}, and I left the link in the cart.",
        ],
        story: &[
            "Just {price}, the {product} is waiting in the cart.",
            "For {price}, your story starts in the cart.",
        ],
    },
    single: Styled {
        viral: &["The {product}: {point}!", "Meet the {product}: {point}!"],
        review: &[
            "Quick review of the {product}: {point}.",
            "The {product}'s best part: {point}.",
        ],
        story: &[
            "I chose the {product} for this: {point}.",
            "The {product}: {point}.",
        ],
    },
    single_plain: Styled {
        viral: &["The {product} is here, and it's hot!"],
        review: &["Quick review: the {product} is worth it."],
        story: &["I chose the {product}, no regrets."],
    },
    short_cta: Styled {
        viral: &["Tap the cart now!"],
        review: &["Link's in the cart!"],
        story: &["Try it today!"],
    },
    short_cta_price: Styled {
        viral: &["Only {price}, grab it now!"],
        review: &["Just {price}, link's in the cart!"],
        story: &["Just {price}, try it today!"],
    },
    describe: Describe {
        hook: "Opening: {host} introduces the {product} to the camera.",
        idea: "The situation: {idea}.",
        problem: "The everyday hassle before the {product}.",
        point: "Highlight: {point}.",
        point_plain: "A close look at the {product}.",
        demo: "{host} uses the {product} for real.",
        proof: "The result after days with the {product}.",
        lifestyle: "The {product} in everyday life.",
        offer: "The price: {price}.",
        cta: "Call to action: {host} invites viewers to order the {product}.",
        single: "{host} presents the {product} and invites viewers to order.",
    },
    caption: Styled {
        viral: &["The {product}: {point}. Obsessed!"],
        review: &["Honest review of the {product}: {point}."],
        story: &["A little story about the {product}: {point}."],
    },
    caption_plain: Styled {
        viral: &["The {product} is everywhere right now!"],
        review: &["Honest review of the {product}: worth it."],
        story: &["A little story about the {product}."],
    },
    caption_price: "Only {price}, tap the link to order!",
    caption_order: "Tap the link to order yours!",
    thumbnail_price: "Only {price}!",
    thumbnail: Styled {
        viral: &["Everyone wants this!"],
        review: &["Honest review, no filter"],
        story: &["Small thing, big change"],
    },
    tags: Styled {
        viral: &["#viral", "#fyp", "#musthave"],
        review: &["#review", "#honestreview", "#KOC"],
        story: &["#storytime", "#dayinmylife", "#reallife"],
    },
    market_tags: &["#tiktokmademebuyit", "#shopping"],
    presenters: [
        Presenter {
            name: "Alex",
            role: "lead presenter",
            look: "man in his mid-20s, short black undercut, bright orange hoodie, white wireless earbuds, white sneakers",
        },
        Presenter {
            name: "Mia",
            role: "KOC product reviewer",
            look: "woman in her mid-20s, shoulder-length dark hair, cream knit sweater, small pearl earrings, pale pink nails",
        },
        Presenter {
            name: "Emma",
            role: "narrator and customer",
            look: "woman around 30, low neat bun, light blue blouse, brown leather watch, canvas tote bag",
        },
    ],
    default_roles: Styled {
        viral: &["presenter"],
        review: &["reviewer"],
        story: &["main character"],
    },
    default_look: "natural, approachable look",
    photo_look: "exactly as in the reference photo",
    anchors_reviewer: &[
        "holds the product at chest height while talking",
        "looks straight into the lens",
    ],
    anchors_customer: &["casual everyday outfit", "relaxed, natural posture"],
    anchors_narrator: &["calm, thoughtful gaze", "soft, gentle gestures"],
    anchors_presenter: &["confident upright posture", "big open smile"],
    anchors_style: Styled {
        viral: &["lively, high-energy expressions"],
        review: &["friendly smile, eye contact with the camera"],
        story: &["warm eyes, unhurried movements"],
    },
    anchors_generic: &[
        "the same face in every shot",
        "the same hairstyle throughout",
        "the same outfit throughout the video",
        "light natural make-up",
        "same skin tone and build in every scene",
    ],
};
