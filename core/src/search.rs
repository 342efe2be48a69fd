//! Search keys for customer names: pinyin initials under every reading of each character
//! (heteronyms: 单 reads dan, shan or chan, so 单 is found by "d", "s" and "c").

use pinyin::{ToPinyin, ToPinyinMulti};

/// At most this many initials strings per name; names with many heteronyms keep the first ones.
const MAX_READINGS: usize = 16;

/// The pinyin initials of `name` under every combination of readings, space-separated,
/// lowercase, e.g. `张三` → `zs`, `单丽` → `dl sl cl`. Letters and digits in the name are kept.
pub fn name_initials(name: &str) -> String {
    let mut combos: Vec<String> = vec![String::new()];
    for (c, multi) in name.chars().zip(name.to_pinyin_multi()) {
        let options: Vec<char> = match multi {
            Some(m) => {
                let mut letters: Vec<char> = m.into_iter().filter_map(|p| p.first_letter().chars().next()).collect();
                letters.dedup();
                let mut unique = Vec::new();
                for l in letters {
                    if !unique.contains(&l) {
                        unique.push(l);
                    }
                }
                unique
            }
            None if c.is_ascii_alphanumeric() => vec![c.to_ascii_lowercase()],
            None => continue,
        };
        let mut next = Vec::with_capacity(combos.len() * options.len());
        for combo in &combos {
            for l in &options {
                if next.len() < MAX_READINGS {
                    next.push(format!("{combo}{l}"));
                }
            }
        }
        combos = next;
    }
    combos.join(" ")
}

/// A key that sorts names by their usual pinyin reading (张 before 赵), for stable lists.
pub fn sort_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len() * 2);
    for (c, p) in name.chars().zip(name.to_pinyin()) {
        match p {
            Some(p) => key.push_str(p.plain()),
            None => key.extend(c.to_lowercase()),
        }
        key.push(' ');
    }
    key
}

/// How a search query is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// Digits: the end of a phone number.
    PhoneSuffix(String),
    /// ASCII letters: pinyin initials.
    Initials(String),
    /// Anything else: part of the name.
    NameFragment(String),
}

impl Query {
    /// Reads a user's query; `None` for an empty one.
    pub fn parse(raw: &str) -> Option<Query> {
        let q = raw.trim();
        if q.is_empty() {
            return None;
        }
        let q: String = q.chars().take(50).collect();
        Some(if q.bytes().all(|b| b.is_ascii_digit()) {
            Query::PhoneSuffix(q)
        } else if q.bytes().all(|b| b.is_ascii_alphabetic()) {
            Query::Initials(q.to_ascii_lowercase())
        } else {
            Query::NameFragment(q)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_cover_heteronyms() {
        assert_eq!(name_initials("张三"), "zs");
        let shan = name_initials("单丽");
        for expected in ["dl", "sl", "cl"] {
            assert!(shan.split(' ').any(|c| c == expected), "{shan}");
        }
        assert_eq!(name_initials("A村张"), "acz");
    }

    #[test]
    fn readings_are_capped() {
        assert!(name_initials("单单单单单单").split(' ').count() <= MAX_READINGS);
    }

    #[test]
    fn queries() {
        assert_eq!(Query::parse(" 1234 "), Some(Query::PhoneSuffix("1234".into())));
        assert_eq!(Query::parse("ZS"), Some(Query::Initials("zs".into())));
        assert_eq!(Query::parse("张"), Some(Query::NameFragment("张".into())));
        assert_eq!(Query::parse("%_'"), Some(Query::NameFragment("%_'".into())));
        assert_eq!(Query::parse("  "), None);
    }

    #[test]
    fn sorts_by_pinyin() {
        assert!(sort_key("张三") < sort_key("赵四"));
        assert!(sort_key("安") < sort_key("张"));
    }
}
