//! Small text tools of the template writer: filling phrasings, capitals, prices,
//! hashtags without diacritics.

/// The values a phrasing's `{…}` slots are filled with.
#[derive(Debug, Clone, Default)]
pub(super) struct Values {
    /// `{product}`: the product's name.
    pub product: String,
    /// `{point}` (`{Point}` capitalised): one selling point.
    pub point: String,
    /// `{price}`: the price, formatted.
    pub price: String,
    /// `{idea}` (`{Idea}` capitalised): the brief's idea, without its full stop.
    pub idea: String,
    /// `{desc}` (`{Desc}` capitalised): the product's description, without its full stop.
    pub desc: String,
    /// `{host}`: the main character's name.
    pub host: String,
    /// The product's name starts with "The": English phrasings drop their own "the".
    pub named_with_article: bool,
}

impl Values {
    /// `template` with every slot filled.
    pub fn fill(&self, template: &str) -> String {
        let template = if self.named_with_article {
            template
                .replace("the {product}", "{product}")
                .replace("The {product}", "{product}")
        } else {
            template.to_owned()
        };
        template
            .replace("{product}", &self.product)
            .replace("{Point}", &capitalize(&self.point))
            .replace("{point}", &self.point)
            .replace("{price}", &self.price)
            .replace("{Idea}", &capitalize(&self.idea))
            .replace("{idea}", &self.idea)
            .replace("{Desc}", &capitalize(&self.desc))
            .replace("{desc}", &self.desc)
            .replace("{host}", &self.host)
    }
}

/// `template` filled, or `None` when one of its slots has nothing to fill it.
pub(super) fn fill_checked(template: &str, values: &Values) -> Option<String> {
    let slots = [
        ("product", &values.product),
        ("point", &values.point),
        ("price", &values.price),
        ("idea", &values.idea),
        ("desc", &values.desc),
        ("host", &values.host),
    ];
    for (slot, value) in slots {
        let lower = format!("{{{slot}}}");
        let upper = format!("{{{}}}", capitalize(slot));
        if value.is_empty() && (template.contains(&lower) || template.contains(&upper)) {
            return None;
        }
    }
    Some(values.fill(template))
}

/// `text` with its first letter in capitals.
pub(super) fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A brief's phrase without surrounding blanks and without the full stop (or other
/// closing punctuation) it may end with, so it can sit inside a sentence.
pub(super) fn clause(text: &str) -> String {
    text.trim()
        .trim_end_matches(['.', '!', '?', ';', ',', '…', '。'])
        .trim_end()
        .to_owned()
}

/// The first sentence of a text, as a clause.
pub(super) fn first_sentence(text: &str) -> String {
    let text = text.trim();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (position, (index, c)) in chars.iter().enumerate() {
        let ends = chars
            .get(position + 1)
            .is_none_or(|(_, next)| next.is_whitespace());
        if matches!(c, '.' | '!' | '?') && ends {
            return clause(&text[..*index]);
        }
    }
    clause(text)
}

/// A price as it is said: a bare number gets the language's currency and digit
/// grouping (`249000` → `249.000đ` in Vietnamese, `24.9` → `$24.90` elsewhere);
/// anything else is kept as the brief wrote it.
pub(super) fn price(raw: &str, vietnamese: bool) -> String {
    let raw = raw.trim();
    let numeric = raw.chars().any(|c| c.is_ascii_digit())
        && raw
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
        && raw.chars().next().is_some_and(|c| c.is_ascii_digit());
    if !numeric {
        return raw.to_owned();
    }
    if vietnamese {
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        return format!("{}đ", group(digits.trim_start_matches('0'), '.'));
    }
    // A last separator followed by one or two digits is the decimal point.
    let (whole, cents) = match raw.rfind(['.', ',']) {
        Some(index) if (2..=3).contains(&(raw.len() - index)) => {
            let cents = &raw[index + 1..];
            (&raw[..index], Some(format!("{cents:0<2}")))
        }
        _ => (raw, None),
    };
    let digits: String = whole.chars().filter(char::is_ascii_digit).collect();
    let whole = group(digits.trim_start_matches('0'), ',');
    match cents {
        Some(cents) => format!("${whole}.{cents}"),
        None => format!("${whole}"),
    }
}

/// Digits grouped by three (`1234567` → `1.234.567`); empty is `0`.
fn group(digits: &str, separator: char) -> String {
    if digits.is_empty() {
        return "0".to_owned();
    }
    let mut out = String::new();
    for (index, c) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

/// `#` and the words in CamelCase, diacritics removed (`Serum sáng da` →
/// `#SerumSangDa`); letters without an ASCII form are kept. `None` when nothing is
/// left.
pub(super) fn hashtag(words: &[&str]) -> Option<String> {
    let mut tag = String::from("#");
    for word in words {
        let folded: String = word
            .chars()
            .map(fold)
            .filter(|c| c.is_alphanumeric())
            .collect();
        tag.push_str(&capitalize(&folded));
    }
    (tag.len() > 1).then_some(tag)
}

/// The words of a name (split on blanks and punctuation other than `-`).
pub(super) fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '/' | '|' | '+' | '&'))
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .collect()
}

/// A letter without its diacritics (Vietnamese and common Latin ones); others as
/// they are.
pub(super) fn fold(c: char) -> char {
    const TABLE: [(&str, char); 14] = [
        ("àáảãạăằắẳẵặâầấẩẫậäåā", 'a'),
        ("ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÄÅĀ", 'A'),
        ("èéẻẽẹêềếểễệëē", 'e'),
        ("ÈÉẺẼẸÊỀẾỂỄỆËĒ", 'E'),
        ("ìíỉĩịïîī", 'i'),
        ("ÌÍỈĨỊÏÎĪ", 'I'),
        ("òóỏõọôồốổỗộơờớởỡợöøō", 'o'),
        ("ÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÖØŌ", 'O'),
        ("ùúủũụưừứửữựüûū", 'u'),
        ("ÙÚỦŨỤƯỪỨỬỮỰÜÛŪ", 'U'),
        ("ỳýỷỹỵÿ", 'y'),
        ("ỲÝỶỸỴŸ", 'Y'),
        ("đ", 'd'),
        ("Đ", 'D'),
    ];
    if c.is_ascii() {
        return c;
    }
    match c {
        'ç' => return 'c',
        'Ç' => return 'C',
        'ñ' => return 'n',
        'Ñ' => return 'N',
        _ => {}
    }
    TABLE
        .iter()
        .find(|(letters, _)| letters.contains(c))
        .map_or(c, |(_, plain)| *plain)
}

/// A stable 64-bit hash (FNV-1a) of some text, for choosing phrasings.
pub(super) fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_numbers_become_prices_and_written_prices_stay() {
        assert_eq!(price("249000", true), "249.000đ");
        assert_eq!(price("1.299.000", true), "1.299.000đ");
        assert_eq!(price("24.9", false), "$24.90");
        assert_eq!(price("1299", false), "$1,299");
        assert_eq!(price("1,299.50", false), "$1,299.50");
        assert_eq!(price("299.000đ", true), "299.000đ");
        assert_eq!(price(" $89 ", false), "$89");
        assert_eq!(price("from 49 €", false), "from 49 €");
    }

    #[test]
    fn hashtags_lose_diacritics_and_spaces() {
        assert_eq!(
            hashtag(&words("Serum sáng da")).as_deref(),
            Some("#SerumSangDa")
        );
        assert_eq!(
            hashtag(&words("Bình giữ nhiệt Sen Việt 500ml")).as_deref(),
            Some("#BinhGiuNhietSenViet500ml")
        );
        assert_eq!(hashtag(&words("Đồ ăn vặt")).as_deref(), Some("#DoAnVat"));
        assert_eq!(hashtag(&words("— !")), None);
    }

    #[test]
    fn clauses_and_sentences_lose_their_full_stop() {
        assert_eq!(clause(" weighs only 900 g. "), "weighs only 900 g");
        assert_eq!(
            first_sentence("A 22-litre daypack. Built for weekends."),
            "A 22-litre daypack"
        );
        assert_eq!(first_sentence("Costs $24.90 only"), "Costs $24.90 only");
        assert_eq!(capitalize("giữ nóng"), "Giữ nóng");
    }
}
