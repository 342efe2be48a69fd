//! Text as people type it, made canonical at the edge.
//!
//! Two tablets can send the same visible name as different code points (precomposed or
//! combining marks, depending on the keyboard); stored as typed, they would sort, search and
//! compare as different customers. So actions store every name and free text in Unicode NFC, and
//! validation refuses anything else from other writers. Names also refuse control characters and
//! bidirectional controls, which can make a name on a list or a supervisor's page read as another.

use unicode_normalization::UnicodeNormalization;

/// True when `s` is in Unicode normalization form NFC.
pub fn is_nfc(s: &str) -> bool {
    // Names, villages and notes are mostly ASCII, Latin and CJK ideographs: characters that NFC
    // keeps as they are and that combine with nothing before them (combining class 0), so a string
    // of only such characters is NFC (tested for every one of them); the full check, table lookups
    // for every character, is left for the rest.
    s.chars().all(stays_nfc) || unicode_normalization::is_nfc(s)
}

/// Characters whose NFC quick check is "yes" and whose combining class is 0: below the combining
/// diacritical marks (U+0300); dashes, quotes and ellipsis; CJK punctuation (before the tone
/// marks at U+302A); the CJK unified ideographs with extension A; the fullwidth forms (，！？).
fn stays_nfc(c: char) -> bool {
    matches!(
        c,
        '\0'..='\u{2FF}'
            | '\u{2010}'..='\u{2027}'
            | '\u{3000}'..='\u{3029}'
            | '\u{3400}'..='\u{4DBF}'
            | '\u{4E00}'..='\u{9FFF}'
            | '\u{FF00}'..='\u{FFEF}'
    )
}

/// Characters that have no place in a one-line name: C0/C1 controls (newline and tab included)
/// and the Unicode line and paragraph separators.
pub fn is_control_in_line(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Bidirectional embeddings and overrides (U+202A–U+202E), isolates (U+2066–U+2069) and the
/// implicit marks (LRM, RLM, ALM).
pub fn is_direction_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// A name or one-line label in NFC, in place. Allocates only when the text was not NFC already.
pub fn normalize_line(s: &mut String) {
    if !is_nfc(s) {
        *s = s.nfc().collect();
    }
}

/// Free text in NFC, with CR LF and lone CR turned into LF: text pasted from elsewhere carries
/// other platforms' line ends, and CR is a control character validation refuses.
pub fn normalize_text(s: &mut String) {
    if s.contains('\r') {
        *s = s.replace("\r\n", "\n").replace('\r', "\n");
    }
    normalize_line(s);
}

/// Normalises an optional free text.
pub fn normalize_opt_text(s: &mut Option<String>) {
    if let Some(s) = s {
        normalize_text(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::domain::*;

    /// Every character of the fast path is NFC on its own and combines with nothing before it,
    /// so strings of them are NFC; and the answer is the full check's, mixed with others too.
    #[test]
    fn the_fast_nfc_path_agrees_with_the_full_check() {
        use unicode_normalization::char::canonical_combining_class;
        use unicode_normalization::{IsNormalized, is_nfc_quick};
        let fast: Vec<char> = (0..=0x10FFFFu32).filter_map(char::from_u32).filter(|c| stays_nfc(*c)).collect();
        assert!(fast.len() > 27_000);
        for &c in &fast {
            assert_eq!(canonical_combining_class(c), 0, "{:X}", c as u32);
            assert_eq!(is_nfc_quick(std::iter::once(c)), IsNormalized::Yes, "{:X}", c as u32);
        }
        for s in [
            "张三 Zhang San，韩桥村 3组。“好”……",
            "Ångström",
            "e\u{301}",
            "\u{212B}",
            "韩\u{302A}",
            "A\u{30A}",
            "가",
            "\u{1100}\u{1161}",
        ] {
            assert_eq!(is_nfc(s), unicode_normalization::is_nfc(s), "{s:?}");
        }
        assert!(!is_nfc("e\u{301}") && !is_nfc("\u{212B}") && !is_nfc("\u{1100}\u{1161}"));
    }

    #[test]
    fn nfd_becomes_nfc() {
        // "é" as e + combining acute, and Hangul as conjoining jamo.
        let mut s = String::from("Jose\u{301} \u{1112}\u{1161}\u{11AB}");
        assert!(!is_nfc(&s));
        normalize_line(&mut s);
        assert_eq!(s, "Jos\u{E9} \u{D55C}");
        assert!(is_nfc(&s));
        // CJK text is already NFC and is left as it is.
        let mut name = String::from("杨桂敏");
        normalize_line(&mut name);
        assert_eq!(name, "杨桂敏");
    }

    #[test]
    fn line_ends_of_free_text() {
        let mut s = String::from("一\r\n二\r三\n四\t五");
        normalize_text(&mut s);
        assert_eq!(s, "一\n二\n三\n四\t五");
    }

    #[test]
    fn classes_of_characters() {
        for c in ['\n', '\t', '\r', '\0', '\u{7F}', '\u{85}', '\u{2028}', '\u{2029}'] {
            assert!(is_control_in_line(c), "{c:?}");
        }
        for c in ['a', ' ', '张', '\u{3000}', '\u{200B}', '\u{202E}'] {
            assert!(!is_control_in_line(c), "{c:?}");
        }
        for c in ['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}'] {
            assert!(is_direction_control(c), "{c:?}");
        }
        for c in ['\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}'] {
            assert!(is_direction_control(c), "{c:?}");
        }
        for c in ['\u{2029}', '\u{2065}', '\u{206A}', '\u{200D}', '\u{0627}', 'a'] {
            assert!(!is_direction_control(c), "{c:?}");
        }
    }

    /// 2025-07-21 08:00 China time, in UTC ms.
    const NOW: i64 = 1_753_056_000_000;
    /// Not NFC: "José" with a combining acute accent.
    const NFD: &str = "Jose\u{301}";
    const NFC: &str = "Jos\u{E9}";

    fn ctx(role: Role) -> Ctx {
        Ctx { user_id: "M1".into(), user_name: "王建国".into(), role, now: NOW }
    }

    fn here(at: i64) -> CheckPoint {
        CheckPoint {
            at,
            position: GeoPoint { lat: 31.68, lng: 105.42, accuracy_m: 10.0 },
            provider: LocationProvider::Gps,
            mock_location: false,
        }
    }

    fn apply(file: &mut CustomerFile, action: Action, ctx: &Ctx) {
        action.apply(file, ctx).unwrap_or_else(|e| panic!("{}: {e}", action.name()));
    }

    /// A valid file with one of every entity that holds text.
    fn sample() -> CustomerFile {
        let (m, server) = (ctx(Role::Manager), ctx(Role::Server));
        let mut f = CustomerFile::new(String::new(), Profile::new(CustomerKind::Household, "-", "-"), String::new(), 0);
        let mut profile = Profile::new(CustomerKind::Household, "杨桂敏", "韩桥村");
        profile.address = "韩桥村7组64号".into();
        profile.occupation = "农机手".into();
        profile.tags.0.insert("养殖".into());
        profile.notes = "周末在家".into();
        apply(&mut f, Action::CreateCustomer { id: "c1".into(), profile }, &m);
        let contact = Contact {
            id: "k1".into(),
            name: "杨父".into(),
            role: "户主".into(),
            phone: None,
            relation: Relation::Parent,
            influence: 2,
            key_decision_maker: true,
            preferences: "喜欢喝茶".into(),
            notes: "耳背".into(),
        };
        apply(&mut f, Action::UpsertContact { contact }, &m);
        let details = VisitDetails {
            participants: vec!["王五".into()],
            notes: "询问存款".into(),
            outcome: "有意向".into(),
            next_step: "下周再访".into(),
            ..Default::default()
        };
        let record = Action::RecordVisit {
            visit_id: "v1".into(),
            purpose: VisitPurpose::Marketing,
            channel: Channel::InPerson,
            check_in: here(NOW),
            check_out: here(NOW + 1000),
            details,
        };
        apply(&mut f, record, &m);
        let lead = NewLead {
            id: "l1".into(),
            product: Product::Loan,
            amount_fen: 100,
            source: LeadSource::Visit,
            expected_close: None,
            probability: None,
            visit_id: None,
            notes: "买农机".into(),
            catalog_id: None,
        };
        apply(&mut f, Action::AddLead { lead }, &m);
        let lost =
            Action::MoveLead { lead_id: "l1".into(), stage: LeadStage::Lost, lost_reason: Some("利率高".into()) };
        apply(&mut f, lost, &m);
        let reminder = Reminder {
            id: "r1".into(),
            kind: ReminderKind::Birthday,
            due_at: NOW,
            note: "送挂历".into(),
            done_at: None,
        };
        apply(&mut f, Action::AddReminder { reminder }, &m);
        let interaction = Interaction {
            id: "i1".into(),
            kind: InteractionKind::Complaint,
            summary: "排队太久".into(),
            at: NOW,
            captured_at: NOW,
            visit_id: None,
            resolved_at: None,
            resolution: None,
        };
        apply(&mut f, Action::AddInteraction { interaction }, &m);
        // Back in the pool (a manager's new customer is theirs), so a claim can be made on it.
        apply(&mut f, Action::assign(Owner::default()), &server);
        apply(&mut f, Action::RequestClaim { intent_id: "t1".into() }, &m);
        let outcome = IntentOutcome { accepted: false, reason: "已有客户经理".into(), at: NOW };
        apply(&mut f, Action::ResolveIntent { intent_id: "t1".into(), outcome }, &server);
        let review = Review {
            decision: ReviewDecision::Returned,
            comment: "补充照片".into(),
            reviewer_id: "S1".into(),
            reviewer_name: "主任".into(),
            at: NOW,
        };
        apply(&mut f, Action::WriteReview { visit_id: "v1".into(), review }, &server);
        let owner = Owner { manager_id: Some("M1".into()), manager_name: Some("王建国".into()) };
        apply(&mut f, Action::assign(owner), &server);
        f.validate().unwrap();
        f
    }

    #[test]
    fn check_rules_by_kind_of_text() {
        use super::super::error::check;
        let problem = |r: crate::domain::error::Checked| r.err().map(|e| e.problem);
        for f in [check::name, check::line] {
            assert_eq!(problem(f("f", "杨桂敏", 10)), None);
            assert_eq!(problem(f("f", NFD, 10)), Some(Problem::NotNormalized));
            for bad in ["杨\n敏", "杨\t敏", "杨\r敏", "\0", "杨\u{1B}[31m", "杨\u{2028}敏", "杨\u{85}"] {
                assert_eq!(problem(f("f", bad, 10)), Some(Problem::ControlCharacter), "{bad:?}");
            }
            for bad in [
                "\u{202E}敏桂杨",
                "杨\u{2066}敏\u{2069}",
                "杨\u{200F}",
                "\u{200E}杨",
                "杨\u{061C}",
                "\u{202A}杨\u{202C}",
            ] {
                assert_eq!(problem(f("f", bad, 10)), Some(Problem::DirectionControl), "{bad:?}");
            }
        }
        assert_eq!(problem(check::name("f", "", 10)), Some(Problem::Required));
        assert_eq!(problem(check::line("f", "", 10)), None);
        for f in [check::text, check::required_text] {
            // Free text keeps its lines, tabs and right-to-left marks (Uyghur notes need them).
            assert_eq!(problem(f("f", "一\n二\t三 \u{200F}\u{202B}ئا\u{202C}", 100)), None);
            assert_eq!(problem(f("f", NFD, 100)), Some(Problem::NotNormalized));
            for bad in ["一\r\n二", "\u{7}", "红\u{1B}[31m字", "\u{0}", "\u{9F}"] {
                assert_eq!(problem(f("f", bad, 100)), Some(Problem::ControlCharacter), "{bad:?}");
            }
        }
        assert_eq!(problem(check::text("f", "", 10)), None);
        assert_eq!(problem(check::required_text("f", " \n", 10)), Some(Problem::Required));
        assert_eq!(problem(check::name("f", &"名".repeat(11), 10)), Some(Problem::TooLong));
    }

    #[test]
    fn new_problems_explain_themselves_in_both_languages() {
        for p in [Problem::NotNormalized, Problem::ControlCharacter, Problem::DirectionControl] {
            let e = ValidationError::new("profile.name", p);
            assert!(e.to_string().starts_with("profile.name "), "{e}");
            assert!(e.message_zh().starts_with("姓名") && e.message_zh().chars().any(|c| c > '\u{2E80}'));
            assert_ne!(p.message_en(), p.message_zh());
        }
    }

    #[test]
    fn actions_store_nfc_whatever_was_typed() {
        let f = sample();
        let (m, server) = (Ctx { user_name: format!("王{NFD}"), ..ctx(Role::Manager) }, ctx(Role::Server));

        let mut profile = f.profile.clone();
        profile.name = format!("杨{NFD}");
        profile.village = NFD.into();
        profile.address = NFD.into();
        profile.occupation = NFD.into();
        profile.tags.0 = [NFD.to_string(), NFC.to_string()].into();
        profile.notes = format!("{NFD}\r\n第二行");
        let mut g = f.clone();
        apply(&mut g, Action::UpdateProfile { profile }, &m);
        let p = &g.profile;
        assert_eq!((p.name.as_str(), p.village.as_str(), p.address.as_str()), (format!("杨{NFC}").as_str(), NFC, NFC));
        assert_eq!(p.occupation, NFC);
        assert_eq!(p.tags.0, [NFC.to_string()].into(), "two spellings of one tag are one tag");
        assert_eq!(p.notes, format!("{NFC}\n第二行"));

        let mut contact = f.contacts["k1"].clone();
        (contact.name, contact.role, contact.preferences, contact.notes) =
            (NFD.into(), NFD.into(), NFD.into(), NFD.into());
        apply(&mut g, Action::UpsertContact { contact }, &m);
        let c = &g.contacts["k1"];
        assert_eq!([&c.name, &c.role, &c.preferences, &c.notes], [NFC; 4]);

        let start = Action::StartVisit {
            visit_id: "v2".into(),
            purpose: VisitPurpose::Care,
            channel: Channel::Phone,
            check_in: here(NOW + 5000),
        };
        apply(&mut g, start, &m);
        assert_eq!(g.visits["v2"].manager_name, format!("王{NFC}"), "the acting user's name is stored NFC too");
        let details = VisitDetails {
            participants: vec![NFD.into()],
            notes: NFD.into(),
            outcome: NFD.into(),
            next_step: format!("{NFD}\r"),
            ..Default::default()
        };
        apply(&mut g, Action::CheckOut { visit_id: "v2".into(), check_out: here(NOW + 9000), details }, &m);
        let v = &g.visits["v2"];
        assert_eq!([&v.participants[0], &v.notes, &v.outcome], [NFC; 3]);
        assert_eq!(v.next_step, format!("{NFC}\n"));

        let lead = NewLead {
            id: "l2".into(),
            product: Product::Deposit,
            amount_fen: 1,
            source: LeadSource::Outlet,
            expected_close: None,
            probability: None,
            visit_id: None,
            notes: NFD.into(),
            catalog_id: None,
        };
        apply(&mut g, Action::AddLead { lead }, &m);
        apply(
            &mut g,
            Action::MoveLead { lead_id: "l2".into(), stage: LeadStage::Lost, lost_reason: Some(NFD.into()) },
            &m,
        );
        apply(
            &mut g,
            Action::UpdateLead {
                lead_id: "l1".into(),
                amount_fen: 1,
                expected_close: None,
                probability: 0,
                notes: NFD.into(),
            },
            &m,
        );
        assert_eq!((g.leads["l2"].notes.as_str(), g.leads["l2"].lost_reason.as_deref()), (NFC, Some(NFC)));
        assert_eq!(g.leads["l1"].notes, NFC);

        let reminder =
            Reminder { id: "r2".into(), kind: ReminderKind::Custom, due_at: NOW, note: NFD.into(), done_at: None };
        apply(&mut g, Action::AddReminder { reminder }, &m);
        let interaction = Interaction {
            id: "i2".into(),
            kind: InteractionKind::Care,
            summary: NFD.into(),
            at: NOW,
            captured_at: NOW,
            visit_id: None,
            resolved_at: None,
            resolution: None,
        };
        apply(&mut g, Action::AddInteraction { interaction }, &m);
        assert_eq!((g.reminders["r2"].note.as_str(), g.interactions["i2"].summary.as_str()), (NFC, NFC));
        apply(&mut g, Action::ResolveInteraction { interaction_id: "i2".into(), resolution: NFD.into() }, &m);
        assert_eq!(g.interactions["i2"].resolution.as_deref(), Some(NFC));

        let review = Review { comment: NFD.into(), reviewer_name: NFD.into(), ..f.reviews["v1"].clone() };
        apply(&mut g, Action::WriteReview { visit_id: "v1".into(), review }, &server);
        let owner = Owner { manager_id: Some("M2".into()), manager_name: Some(NFD.into()) };
        apply(&mut g, Action::assign(owner), &server);
        let outcome = IntentOutcome { accepted: false, reason: NFD.into(), at: NOW };
        apply(&mut g, Action::ResolveIntent { intent_id: "t1".into(), outcome }, &server);
        assert_eq!([&g.reviews["v1"].comment, &g.reviews["v1"].reviewer_name], [NFC; 2]);
        assert_eq!(g.server.owner.manager_name.as_deref(), Some(NFC));
        assert_eq!(g.server.intent_outcomes["t1"].reason, NFC);
        g.validate().unwrap();
    }

    #[test]
    fn actions_refuse_control_and_direction_characters_in_names() {
        let f = sample();
        let m = ctx(Role::Manager);
        let refused = |action: Action, ctx: &Ctx, field: &str, problem: Problem| {
            let mut g = f.clone();
            match action.apply(&mut g, ctx) {
                Err(Error::Invalid(e)) => assert_eq!(e, ValidationError::new(field, problem), "{}", action.name()),
                other => panic!("{}: expected {field} refused, got {other:?}", action.name()),
            }
        };
        let profile = |edit: fn(&mut Profile)| {
            let mut p = f.profile.clone();
            edit(&mut p);
            Action::UpdateProfile { profile: p }
        };
        refused(profile(|p| p.name = "\u{202E}敏桂杨".into()), &m, "profile.name", Problem::DirectionControl);
        refused(profile(|p| p.name = "杨\n敏".into()), &m, "profile.name", Problem::ControlCharacter);
        refused(profile(|p| p.village = "韩桥\u{2067}村".into()), &m, "profile.village", Problem::DirectionControl);
        refused(profile(|p| p.address = "7组\t64号".into()), &m, "profile.address", Problem::ControlCharacter);
        refused(profile(|p| p.notes = "\u{1B}[2J".into()), &m, "profile.notes", Problem::ControlCharacter);
        let mut contact = f.contacts["k1"].clone();
        contact.name = "杨\u{200F}父".into();
        refused(Action::UpsertContact { contact }, &m, "contact.name", Problem::DirectionControl);
        let details = VisitDetails { participants: vec!["王\u{0}五".into()], ..f.visits["v1"].details() };
        refused(
            Action::UpdateVisit { visit_id: "v1".into(), details },
            &m,
            "visit.participants",
            Problem::ControlCharacter,
        );
        let bidi_user = Ctx { user_name: "王\u{202D}建国".into(), ..ctx(Role::Manager) };
        let start = Action::StartVisit {
            visit_id: "v9".into(),
            purpose: VisitPurpose::Care,
            channel: Channel::Phone,
            check_in: here(NOW),
        };
        refused(start, &bidi_user, "visit.manager_name", Problem::DirectionControl);
        let owner = Owner { manager_id: Some("M2".into()), manager_name: Some("\u{202E}".into()) };
        refused(Action::assign(owner), &ctx(Role::Server), "server.owner.manager_name", Problem::DirectionControl);
    }

    /// What another writer could put in a document: the server's `validate()` names the field and
    /// the rule, and never the value.
    #[test]
    fn validate_refuses_text_that_no_action_would_write() {
        type Edit = fn(&mut CustomerFile, &str);
        let fields: [(&str, bool, Edit); 22] = [
            ("profile.name", true, |f, s| f.profile.name = s.into()),
            ("profile.village", true, |f, s| f.profile.village = s.into()),
            ("profile.address", true, |f, s| f.profile.address = s.into()),
            ("profile.occupation", true, |f, s| f.profile.occupation = s.into()),
            ("profile.tags", true, |f, s| _ = f.profile.tags.0.insert(s.into())),
            ("profile.notes", false, |f, s| f.profile.notes = s.into()),
            ("contact.name", true, |f, s| f.contacts.get_mut("k1").unwrap().name = s.into()),
            ("contact.role", true, |f, s| f.contacts.get_mut("k1").unwrap().role = s.into()),
            ("contact.preferences", false, |f, s| f.contacts.get_mut("k1").unwrap().preferences = s.into()),
            ("contact.notes", false, |f, s| f.contacts.get_mut("k1").unwrap().notes = s.into()),
            ("visit.manager_name", true, |f, s| f.visits.get_mut("v1").unwrap().manager_name = s.into()),
            ("visit.participants", true, |f, s| f.visits.get_mut("v1").unwrap().participants.push(s.into())),
            ("visit.notes", false, |f, s| f.visits.get_mut("v1").unwrap().notes = s.into()),
            ("visit.outcome", false, |f, s| f.visits.get_mut("v1").unwrap().outcome = s.into()),
            ("visit.next_step", false, |f, s| f.visits.get_mut("v1").unwrap().next_step = s.into()),
            ("lead.lost_reason", false, |f, s| f.leads.get_mut("l1").unwrap().lost_reason = Some(s.into())),
            ("lead.notes", false, |f, s| f.leads.get_mut("l1").unwrap().notes = s.into()),
            ("reminder.note", false, |f, s| f.reminders.get_mut("r1").unwrap().note = s.into()),
            ("interaction.summary", false, |f, s| f.interactions.get_mut("i1").unwrap().summary = s.into()),
            ("review.reviewer_name", true, |f, s| f.reviews.get_mut("v1").unwrap().reviewer_name = s.into()),
            ("review.comment", false, |f, s| f.reviews.get_mut("v1").unwrap().comment = s.into()),
            ("server.owner.manager_name", true, |f, s| f.server.owner.manager_name = Some(s.into())),
        ];
        let f = sample();
        let mut g = f.clone();
        g.server.intent_outcomes.get_mut("t1").unwrap().reason = format!("杨桂敏{NFD}");
        assert_eq!(g.validate(), Err(ValidationError::new("server.intent_outcomes.reason", Problem::NotNormalized)));
        for (field, is_name, edit) in fields {
            // Personal data around the offending character, to show it never reaches the message.
            let cases: &[(String, Option<Problem>)] = &[
                (format!("杨桂敏{NFD}"), Some(Problem::NotNormalized)),
                ("杨桂敏\u{7}".into(), Some(Problem::ControlCharacter)),
                ("杨桂敏\r\n".into(), Some(Problem::ControlCharacter)),
                ("杨桂敏\n".into(), is_name.then_some(Problem::ControlCharacter)),
                ("杨桂敏\u{202E}".into(), is_name.then_some(Problem::DirectionControl)),
                ("杨桂敏\u{2066}".into(), is_name.then_some(Problem::DirectionControl)),
                ("杨桂敏\u{200F}".into(), is_name.then_some(Problem::DirectionControl)),
                (format!("杨桂敏{NFC}"), None),
            ];
            for (value, problem) in cases {
                let mut g = f.clone();
                edit(&mut g, value);
                let got = g.validate();
                assert_eq!(got, problem.map_or(Ok(()), |p| Err(ValidationError::new(field, p))), "{field} {value:?}");
                if let Err(e) = got {
                    for text in [e.to_string(), e.message_zh()] {
                        assert!(!text.contains("杨桂敏"), "{text}");
                    }
                }
            }
        }
    }

    mod arbitrary_text {
        use proptest::prelude::*;

        use super::*;

        /// Strings rich in what the rules are about: combining marks, Hangul jamo, controls,
        /// direction controls, line ends, plus any character at all.
        fn arb_text() -> impl Strategy<Value = String> {
            let tricky = prop::sample::select(vec![
                'e', 'A', '张', ' ', '\u{301}', '\u{308}', '\u{323}', '\u{1100}', '\u{1161}', '\u{11A8}', '\u{212B}',
                '\u{F900}', '\n', '\r', '\t', '\0', '\u{1B}', '\u{85}', '\u{2028}', '\u{202E}', '\u{2066}', '\u{200F}',
                '\u{061C}', '\u{FEFF}',
            ]);
            prop_oneof![
                any::<String>(),
                prop::collection::vec(prop_oneof![3 => tricky, 1 => any::<char>()], 0..12)
                    .prop_map(|cs| cs.into_iter().collect()),
            ]
        }

        /// Reads back what an action stored in the targeted field.
        type ReadBack = fn(&CustomerFile) -> Vec<String>;

        /// Every text field an action writes, and the field its errors name.
        #[derive(Debug, Clone, Copy)]
        enum Target {
            ProfileName,
            Village,
            Address,
            Occupation,
            Tag,
            ProfileNotes,
            ContactName,
            ContactRole,
            ContactNotes,
            Participant,
            ManagerName,
            VisitNotes,
            Outcome,
            LostReason,
            ReminderNote,
            Summary,
            ReviewerName,
            Comment,
            OwnerName,
        }

        const TARGETS: [Target; 19] = {
            use Target::*;
            [
                ProfileName,
                Village,
                Address,
                Occupation,
                Tag,
                ProfileNotes,
                ContactName,
                ContactRole,
                ContactNotes,
                Participant,
                ManagerName,
                VisitNotes,
                Outcome,
                LostReason,
                ReminderNote,
                Summary,
                ReviewerName,
                Comment,
                OwnerName,
            ]
        };

        impl Target {
            fn field(self) -> &'static str {
                use Target::*;
                match self {
                    ProfileName => "profile.name",
                    Village => "profile.village",
                    Address => "profile.address",
                    Occupation => "profile.occupation",
                    Tag => "profile.tags",
                    ProfileNotes => "profile.notes",
                    ContactName => "contact.name",
                    ContactRole => "contact.role",
                    ContactNotes => "contact.notes",
                    Participant => "visit.participants",
                    ManagerName => "visit.manager_name",
                    VisitNotes => "visit.notes",
                    Outcome => "visit.outcome",
                    LostReason => "lead.lost_reason",
                    ReminderNote => "reminder.note",
                    Summary => "interaction.summary",
                    ReviewerName => "review.reviewer_name",
                    Comment => "review.comment",
                    OwnerName => "server.owner.manager_name",
                }
            }

            fn is_name(self) -> bool {
                use Target::*;
                matches!(
                    self,
                    ProfileName
                        | Village
                        | Address
                        | Occupation
                        | Tag
                        | ContactName
                        | ContactRole
                        | Participant
                        | ManagerName
                        | ReviewerName
                        | OwnerName
                )
            }

            /// The action that writes `s` here, the context it runs in, and how to read it back.
            fn write(self, f: &CustomerFile, s: &str) -> (Action, Ctx, ReadBack) {
                use Target::*;
                let (m, server) = (ctx(Role::Manager), ctx(Role::Server));
                let mut p = f.profile.clone();
                let mut c = f.contacts["k1"].clone();
                let mut d = f.visits["v1"].details();
                let review = f.reviews["v1"].clone();
                let s = s.to_string();
                let profile = |p| Action::UpdateProfile { profile: p };
                let contact = |c| Action::UpsertContact { contact: c };
                let visit = |d| Action::UpdateVisit { visit_id: "v1".into(), details: d };
                match self {
                    ProfileName => (profile(Profile { name: s, ..p }), m, |f| vec![f.profile.name.clone()]),
                    Village => (profile(Profile { village: s, ..p }), m, |f| vec![f.profile.village.clone()]),
                    Address => (profile(Profile { address: s, ..p }), m, |f| vec![f.profile.address.clone()]),
                    Occupation => (profile(Profile { occupation: s, ..p }), m, |f| vec![f.profile.occupation.clone()]),
                    Tag => {
                        p.tags.0 = [s].into();
                        (profile(p), m, |f| f.profile.tags.0.iter().cloned().collect())
                    }
                    ProfileNotes => (profile(Profile { notes: s, ..p }), m, |f| vec![f.profile.notes.clone()]),
                    ContactName => {
                        c.name = s;
                        (contact(c), m, |f| vec![f.contacts["k1"].name.clone()])
                    }
                    ContactRole => {
                        c.role = s;
                        (contact(c), m, |f| vec![f.contacts["k1"].role.clone()])
                    }
                    ContactNotes => {
                        c.notes = s;
                        (contact(c), m, |f| vec![f.contacts["k1"].notes.clone()])
                    }
                    Participant => {
                        d.participants = vec![s];
                        (visit(d), m, |f| f.visits["v1"].participants.clone())
                    }
                    ManagerName => {
                        let start = Action::StartVisit {
                            visit_id: "v9".into(),
                            purpose: VisitPurpose::Care,
                            channel: Channel::Phone,
                            check_in: here(NOW),
                        };
                        (start, Ctx { user_name: s, ..m }, |f| vec![f.visits["v9"].manager_name.clone()])
                    }
                    VisitNotes => {
                        d.notes = s;
                        (visit(d), m, |f| vec![f.visits["v1"].notes.clone()])
                    }
                    Outcome => {
                        d.outcome = s;
                        (visit(d), m, |f| vec![f.visits["v1"].outcome.clone()])
                    }
                    LostReason => (
                        Action::MoveLead { lead_id: "l1x".into(), stage: LeadStage::Lost, lost_reason: Some(s) },
                        m,
                        |f| f.leads["l1x"].lost_reason.iter().cloned().collect(),
                    ),
                    ReminderNote => {
                        let r = Reminder {
                            id: "r9".into(),
                            kind: ReminderKind::Custom,
                            due_at: NOW,
                            note: s,
                            done_at: None,
                        };
                        (Action::AddReminder { reminder: r }, m, |f| vec![f.reminders["r9"].note.clone()])
                    }
                    Summary => {
                        let i = Interaction {
                            id: "i9".into(),
                            kind: InteractionKind::Consultation,
                            summary: s,
                            at: NOW,
                            captured_at: NOW,
                            visit_id: None,
                            resolved_at: None,
                            resolution: None,
                        };
                        (Action::AddInteraction { interaction: i }, m, |f| vec![f.interactions["i9"].summary.clone()])
                    }
                    ReviewerName => (
                        Action::WriteReview { visit_id: "v1".into(), review: Review { reviewer_name: s, ..review } },
                        server,
                        |f| vec![f.reviews["v1"].reviewer_name.clone()],
                    ),
                    Comment => (
                        Action::WriteReview { visit_id: "v1".into(), review: Review { comment: s, ..review } },
                        server,
                        |f| vec![f.reviews["v1"].comment.clone()],
                    ),
                    OwnerName => {
                        (Action::assign(Owner { manager_id: Some("M2".into()), manager_name: Some(s) }), server, |f| {
                            f.server.owner.manager_name.iter().cloned().collect()
                        })
                    }
                }
            }
        }

        /// A file with an open lead `l1x`, so that moving it to lost can be tried with any reason.
        fn with_open_lead() -> CustomerFile {
            let mut f = sample();
            let add = NewLead {
                id: "l1x".into(),
                product: Product::Card,
                amount_fen: 0,
                source: LeadSource::Visit,
                expected_close: None,
                probability: None,
                visit_id: None,
                notes: String::new(),
                catalog_id: None,
            };
            apply(&mut f, Action::AddLead { lead: add }, &ctx(Role::Manager));
            f
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

            /// Any string into any text field: the action either stores it in NFC (and the file
            /// stays valid) or is refused with a validation error that names that field.
            #[test]
            fn any_text_is_stored_nfc_or_refused(s in arb_text(), target in prop::sample::select(&TARGETS[..])) {
                let f = with_open_lead();
                let (action, ctx, read) = target.write(&f, &s);
                let mut g = f.clone();
                match action.apply(&mut g, &ctx) {
                    Ok(_) => {
                        for stored in read(&g) {
                            prop_assert!(is_nfc(&stored));
                            let mut expected = s.clone();
                            if target.is_name() {
                                normalize_line(&mut expected);
                                prop_assert!(!stored.chars().any(|c| is_control_in_line(c) || is_direction_control(c)));
                            } else {
                                normalize_text(&mut expected);
                                prop_assert!(!stored.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
                            }
                            prop_assert_eq!(&stored, &expected);
                        }
                        prop_assert_eq!(g.validate(), Ok(()));
                    }
                    Err(Error::Invalid(e)) => {
                        prop_assert_eq!(e.field.as_str(), target.field());
                        // The action normalised first, so it never refuses for the form, and it
                        // names a character class only when the text holds one.
                        prop_assert_ne!(e.problem, Problem::NotNormalized);
                        if e.problem == Problem::DirectionControl {
                            prop_assert!(s.chars().any(is_direction_control), "a direction control");
                        }
                        if e.problem == Problem::ControlCharacter {
                            prop_assert!(s.chars().any(is_control_in_line), "a control character");
                        }
                    }
                    Err(other) => prop_assert!(false, "{:?}: {}", target, other),
                }
            }
        }
    }
}
