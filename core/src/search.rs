//! Finding a customer as a manager types: by name, by pinyin (full `zouyunlan`, initials `zyl`,
//! with spaces `z y l`, mixed `zouyl` or `邹y`) under every reading of every character (单 reads
//! dan, shan or chan), or by a fragment of the phone number anywhere in it; and ranking what
//! matches so an exact name or initials match comes first.
//!
//! Matching walks the name's characters with the readings of each (a small dynamic programme over
//! positions in the query), so a long name with many polyphonic characters costs a few
//! comparisons per character rather than one string per combination of readings, and every
//! reading, the main one included, stays searchable.

use pinyin::{ToPinyin, ToPinyinMulti};

use crate::domain::phone;

/// How well a customer matches a query: lower is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// The whole name, its full pinyin or its initials; the whole phone number.
    Exact = 0,
    /// From the first character of the name; the phone number's beginning or end.
    Prefix = 1,
    /// From a later character; digits in the middle of the phone number.
    Inside = 2,
}

/// The longest query read; the rest is ignored.
const MAX_QUERY: usize = 50;

/// A query as read: lower-case ASCII, full-width letters and digits made ASCII, spaces and
/// apostrophes (`xi'an`) dropped. `None` when nothing is left.
pub fn normalize_query(raw: &str) -> Option<String> {
    let q: String = raw
        .chars()
        .filter_map(|c| match c {
            'Ａ'..='Ｚ' | 'ａ'..='ｚ' | '０'..='９' => char::from_u32(c as u32 - 0xFEE0),
            c => Some(c),
        })
        .filter(|c| !c.is_whitespace() && !matches!(c, '\'' | '’' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .take(MAX_QUERY)
        .collect();
    (!q.is_empty()).then_some(q)
}

/// How `name` (and `phone`, when given) matches a query normalised by [`normalize_query`];
/// `None` when it does not.
pub fn rank(name: &str, phone: Option<&str>, query: &str) -> Option<Rank> {
    if query.bytes().all(|b| b.is_ascii_digit())
        && let Some(r) = phone.and_then(|p| phone_rank(p, query))
    {
        return Some(r);
    }
    name_rank(name, query)
}

fn phone_rank(phone: &str, digits_typed: &str) -> Option<Rank> {
    let digits = phone::digits(phone);
    if digits == digits_typed {
        Some(Rank::Exact)
    } else if digits.starts_with(digits_typed) || digits.ends_with(digits_typed) {
        Some(Rank::Prefix)
    } else {
        digits.contains(digits_typed).then_some(Rank::Inside)
    }
}

/// One character of a name and the ways it may be typed.
struct Token {
    /// The character itself, lower-cased when ASCII.
    literal: char,
    /// Its pinyin readings without tones (none for a character that is not Chinese).
    readings: Vec<&'static str>,
}

fn tokens(name: &str) -> Vec<Token> {
    name.chars()
        .zip(name.to_pinyin_multi())
        .filter_map(|(c, multi)| match multi {
            Some(m) => {
                let mut readings: Vec<&'static str> = m.into_iter().map(|p| p.plain()).collect();
                readings.dedup();
                Some(Token { literal: c, readings })
            }
            None if c.is_alphanumeric() => Some(Token { literal: c.to_ascii_lowercase(), readings: Vec::new() }),
            // Separators in a name (the middle dot of 阿卜杜拉·买买提, spaces) are not typed.
            None => None,
        })
        .collect()
}

fn name_rank(name: &str, query: &str) -> Option<Rank> {
    let q: Vec<char> = query.chars().collect();
    let tokens = tokens(name);
    for start in 0..tokens.len() {
        let Some((ends_at_last, whole)) = match_from(&tokens[start..], &q) else { continue };
        let rank = match start {
            0 if ends_at_last && whole => Rank::Exact,
            0 => Rank::Prefix,
            _ => Rank::Inside,
        };
        // The first start that matches ranks best: an earlier one beats any later one.
        return Some(rank);
    }
    None
}

/// Whether the whole query is typed by `tokens` from the first one on: returns whether some
/// match uses every token and, for that, whether every token was typed whole (the character, its
/// full reading or its initial).
fn match_from(tokens: &[Token], q: &[char]) -> Option<(bool, bool)> {
    // reach[pos] = Some(whole): the query's first `pos` characters are typed by the tokens so far.
    let mut reach: Vec<Option<bool>> = vec![None; q.len() + 1];
    reach[0] = Some(true);
    let mut found: Option<(bool, bool)> = None;
    for (i, token) in tokens.iter().enumerate() {
        let mut next: Vec<Option<bool>> = vec![None; q.len() + 1];
        let mut any = false;
        let mut mark = |pos: usize, whole: bool, next: &mut Vec<Option<bool>>| {
            next[pos] = Some(next[pos].unwrap_or(false) || whole);
            any = true;
        };
        for pos in 0..q.len() {
            let Some(whole_so_far) = reach[pos] else { continue };
            if q[pos] == token.literal {
                mark(pos + 1, whole_so_far, &mut next);
            }
            for reading in &token.readings {
                // Any non-empty prefix of a reading; whole when it is the initial or all of it.
                for (k, ch) in reading.chars().enumerate() {
                    if pos + k >= q.len() || q[pos + k] != ch {
                        break;
                    }
                    let typed = k + 1;
                    let whole = typed == 1 || typed == reading.len();
                    mark(pos + typed, whole_so_far && whole, &mut next);
                }
            }
        }
        if !any {
            break;
        }
        if let Some(whole) = next[q.len()] {
            let last = i + 1 == tokens.len();
            let candidate = (last, whole && last);
            found = Some(match found {
                Some((l, w)) => (l || candidate.0, w || candidate.1),
                None => candidate,
            });
            next[q.len()] = None;
        }
        reach = next;
    }
    found
}

/// The pinyin initials of `name` under its main reading, e.g. `张三` → `zs` (kept in the store's
/// customers table for exports and debugging; matching uses [`rank`]).
pub fn name_initials(name: &str) -> String {
    tokens(name).iter().map(|t| t.readings.first().and_then(|r| r.chars().next()).unwrap_or(t.literal)).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, query: &str) -> Option<Rank> {
        rank(name, Some("13812345678"), &normalize_query(query).unwrap())
    }

    #[test]
    fn full_pinyin_initials_spaces_and_mixed_queries_find_the_name() {
        for q in ["邹云兰", "zouyunlan", "zou yun lan", "zyl", "z y l", "ZYL", "Zou Yun Lan", "zouyl", "邹yl"] {
            assert_eq!(r("邹云兰", q), Some(Rank::Exact), "{q}");
        }
        for q in ["zou", "zouy", "zouyu", "邹y", "邹yun", "zy", "z", "邹", "ｚｏｕ"] {
            assert_eq!(r("邹云兰", q), Some(Rank::Prefix), "{q}");
        }
        for q in ["yunlan", "yl", "云兰", "lan"] {
            assert_eq!(r("邹云兰", q), Some(Rank::Inside), "{q}");
        }
        for q in ["zhou", "lz", "zoux", "邹兰", "x", "zouyunlanx"] {
            assert_eq!(r("邹云兰", q), None, "{q}");
        }
    }

    #[test]
    fn every_reading_of_a_polyphonic_name_is_searchable() {
        // 单 reads shan (the surname) and dan; 曾 zeng and ceng.
        for q in ["shanli", "danli", "sl", "dl", "单l"] {
            assert!(r("单丽", q).is_some(), "{q}");
        }
        assert_eq!(r("曾", "zeng"), Some(Rank::Exact));
        assert_eq!(r("曾", "ceng"), Some(Rank::Exact));
        // A long name of polyphonic characters keeps its main reading and every other one.
        let long = "单行长重乐曾";
        for q in ["shanxingzhangzhongleceng", "danhangchangchongyuezeng", "sxzzlz", "dhccyz"] {
            assert_eq!(r(long, q), Some(Rank::Exact), "{q}");
        }
    }

    #[test]
    fn phone_fragments_match_anywhere_and_rank_by_place() {
        assert_eq!(r("邹云兰", "13812345678"), Some(Rank::Exact));
        assert_eq!(r("邹云兰", "5678"), Some(Rank::Prefix));
        assert_eq!(r("邹云兰", "138"), Some(Rank::Prefix));
        assert_eq!(r("邹云兰", "2345"), Some(Rank::Inside));
        assert_eq!(r("邹云兰", "9999"), None);
        assert_eq!(rank("邹云兰", Some("0791-88881234"), "791888"), Some(Rank::Inside));
        assert_eq!(rank("邹云兰", None, "1234"), None);
        // A name with digits is found by them when no phone matches.
        assert_eq!(rank("A1 合作社", None, "1"), Some(Rank::Inside));
    }

    #[test]
    fn queries_are_normalised_and_bounded() {
        assert_eq!(normalize_query("  "), None);
        assert_eq!(normalize_query(" Xi'an "), Some("xian".into()));
        assert_eq!(normalize_query("１３８"), Some("138".into()));
        assert_eq!(normalize_query(&"a".repeat(500)).unwrap().len(), MAX_QUERY);
        // Hostile text is only compared, never interpreted.
        assert_eq!(rank("张三", None, "%_'"), None);
        assert_eq!(r("", "z"), None);
    }

    #[test]
    fn initials_and_sort_keys() {
        assert_eq!(name_initials("张三"), "zs");
        assert_eq!(name_initials("A村张"), "acz");
        assert!(sort_key("张三") < sort_key("赵四"));
        assert!(sort_key("安") < sort_key("张"));
    }
}
