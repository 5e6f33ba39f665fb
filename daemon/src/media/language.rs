//! The languages whisper.cpp knows, read from its own table (no model is loaded), so a
//! `transcribe.language` can be checked before the first recording arrives.

/// Whether whisper.cpp accepts `language`: `auto`, a code (`en`, `de`) or a full name
/// (`german`), as whisper.cpp looks them up (lower case).
pub fn is_known(language: &str) -> bool {
    language == "auto"
        || languages()
            .iter()
            .any(|(code, name)| *code == language || *name == language)
}

/// Every language whisper.cpp knows: (code, full name), in its order (`en` first).
pub fn languages() -> Vec<(&'static str, &'static str)> {
    (0..=whisper_rs::get_lang_max_id())
        .filter_map(|id| {
            Some((
                whisper_rs::get_lang_str(id)?,
                whisper_rs::get_lang_str_full(id)?,
            ))
        })
        .collect()
}

/// The code `language` most likely meant: itself in lower case, the code of a full name
/// (`German` → `de`), or a close code or name.
pub fn suggest(language: &str) -> Option<&'static str> {
    let lower = language.trim().to_lowercase();
    let languages = languages();
    if let Some((code, _)) = languages
        .iter()
        .find(|(code, name)| *code == lower || *name == lower)
    {
        return Some(code);
    }
    languages
        .iter()
        .filter_map(|(code, name)| {
            let distance = strsim::damerau_levenshtein(&lower, name)
                .min(strsim::damerau_levenshtein(&lower, code));
            (distance <= 2 && lower.len() > 2).then_some((distance, *code))
        })
        .min()
        .map(|(_, code)| code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whisper_knows_its_languages_without_a_model() {
        let languages = languages();
        assert!(languages.len() >= 99, "{languages:?}");
        assert_eq!(languages.first(), Some(&("en", "english")));
        for known in ["auto", "en", "de", "ja", "german", "yue"] {
            assert!(is_known(known), "{known}");
        }
        for unknown in ["", "EN", "xx", "klingon", "en-US", "de\0"] {
            assert!(!is_known(unknown), "{unknown}");
        }
    }

    #[test]
    fn near_misses_get_the_code_they_meant() {
        assert_eq!(suggest("EN"), Some("en"));
        assert_eq!(suggest("German"), Some("de"));
        assert_eq!(suggest("englsh"), Some("en"));
        assert_eq!(suggest("klingon"), None);
        assert_eq!(suggest("xx"), None);
    }
}
