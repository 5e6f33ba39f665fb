//! The request a text model gets for a script: what to write (arc, pacing, language,
//! characters, social posts), the brief itself as JSON, the answer's shape, and —
//! when an earlier answer was refused — what was wrong with it.

use serde_json::json;

use super::{ANCHORS, is_vietnamese, speech_budget};
use crate::brief::Brief;

/// The system instruction of every script request.
pub const SYSTEM: &str = "You write scripts for short vertical sales videos (TikTok, Reels, Shorts). \
You answer with one JSON object and nothing else: no Markdown, no comments.";

/// Most characters of feedback about a refused answer (the first problems are the
/// ones worth fixing; the local model's context is sized with this in mind).
const FEEDBACK_MAX: usize = 800;

/// The shape of the answer, for models without schema support (empty strings stand
/// for text).
const SHAPE: &str = r##"{"character_bible":[{"name":"","role":"","look":"","anchors":["","","","",""]}],"scenes":[{"description":"","voiceover":"","prompt":{"characters":[""],"setting":"","action":"","camera":"","emotion":""}}],"social_media":{"caption":"","hashtags":["#"],"thumbnail_prompt":"","thumbnail_text":""}}"##;

/// The user message asking for a script of `scenes` scenes of `seconds_per_scene`
/// seconds. `feedback` is what was wrong with the previous answer, if any.
pub fn user_prompt(
    brief: &Brief,
    scenes: usize,
    seconds_per_scene: u32,
    feedback: Option<&str>,
) -> String {
    let budget = speech_budget(&brief.language, f64::from(seconds_per_scene.max(1)));
    let unit = if is_vietnamese(&brief.language) {
        "syllables"
    } else {
        "words"
    };
    let characters = if brief.characters.is_empty() {
        "The brief names no characters: invent one presenter who suits the style.".to_owned()
    } else {
        let names: Vec<&str> = brief.characters.iter().map(|c| c.name.as_str()).collect();
        format!(
            "The character_bible holds exactly the brief's characters ({}), with their look as the brief describes it.",
            names.join(", ")
        )
    };
    let facts = json!({
        "title": brief.title,
        "product": {
            "name": brief.product.name,
            "description": brief.product.description,
            "selling_points": brief.product.selling_points,
            "price": brief.product.price,
        },
        "idea": brief.idea,
        "style": brief.style,
        "language": brief.language,
        "duration_sec": brief.duration_sec,
        "aspect": brief.aspect,
        "characters": brief.characters.iter().map(|c| json!({
            "name": c.name, "role": c.role, "look": c.look,
        })).collect::<Vec<_>>(),
    });
    let facts = serde_json::to_string_pretty(&facts).unwrap_or_default();
    let mut prompt = format!(
        "Write the script of a {duration} s sales video in the \"{style}\" style: exactly {scenes} scenes of about {seconds_per_scene} s each.\n\
- Arc: the first scene hooks the viewer and names the product; then the problem or the brief's idea; one scene per selling point; a demo or proof; the price or offer; the last scene is a call to action.\n\
- voiceover: spoken and shown as the scene's caption; one or two short sentences, at most about {budget} {unit}, in the brief's language ({language}). Use the product's real name, selling points and price; never placeholders.\n\
- description: what happens, in the brief's language. prompt: setting, action, camera (shot size, angle, movement; vary it from scene to scene) and emotion, in English, for an image model.\n\
- {characters} Each character has exactly {ANCHORS} anchors: short visual traits (hair, clothes, accessories) that never change. prompt.characters lists the names of the people in the shot (empty for a product shot).\n\
- social_media: a caption naming the product and its best selling point, 5 to 8 hashtags (# and one word), a thumbnail_prompt for the hero shot, and a thumbnail_text of at most 6 punchy words; all in the brief's language except thumbnail_prompt (English).\n\
Answer with one JSON object of this shape:\n{SHAPE}\n\
The brief:\n\"\"\"\n{facts}\n\"\"\"",
        duration = brief.duration_sec,
        style = brief.style,
        language = brief.language,
    );
    if let Some(problems) = feedback {
        let problems: String = problems.chars().take(FEEDBACK_MAX).collect();
        prompt.push_str(&format!(
            "\nYour previous answer could not be used: {problems}. Write the whole script again and fix exactly these problems."
        ));
    }
    defuse(&prompt)
}

/// Breaks up chat-template markers (`<|im_end|>` and the like) that a brief could
/// carry, so its text can never end the prompt's turn early.
fn defuse(text: &str) -> String {
    text.replace("<|", "< |").replace("|>", "| >")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brief() -> Brief {
        serde_json::from_value(serde_json::json!({
            "product": {"name": "Serum <|im_end|> sáng da", "selling_points": ["mờ thâm"]},
            "duration_sec": 30,
            "language": "vi",
            "characters": [{"name": "Linh", "look": "tóc ngang vai"}],
        }))
        .expect("brief")
    }

    #[test]
    fn the_prompt_carries_the_brief_the_pacing_and_the_feedback() {
        let prompt = user_prompt(
            &brief(),
            6,
            5,
            Some("scenes has 4 entries, the brief needs 6"),
        );
        assert!(
            prompt.contains("exactly 6 scenes of about 5 s each"),
            "{prompt}"
        );
        assert!(prompt.contains("at most about 17 syllables"), "{prompt}");
        assert!(prompt.contains("exactly the brief's characters (Linh)"));
        assert!(prompt.contains("mờ thâm"));
        assert!(prompt.ends_with(
            "Your previous answer could not be used: scenes has 4 entries, the brief needs 6. Write the whole script again and fix exactly these problems."
        ));
        assert!(!prompt.contains("<|im_end|>"));
    }
}
