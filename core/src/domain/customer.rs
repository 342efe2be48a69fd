//! The customer profile (客户档案的基本信息).

use std::collections::BTreeSet;

use autosurgeon::{Hydrate, HydrateError, ReadDoc, Reconcile, Reconciler};

use super::codes::code_enum;
use super::error::{Checked, Problem, ValidationError, check};
use super::{idcard, phone, text};

code_enum! {
    /// What kind of party the customer file describes.
    pub enum CustomerKind {
        Individual = ("individual", "个人"),
        Corporate = ("corporate", "对公"),
        Household = ("household", "家庭户"),
    }
}

code_enum! {
    pub enum Gender {
        Male = ("male", "男"),
        Female = ("female", "女"),
    }
}

code_enum! {
    /// How the bank came to know the customer.
    pub enum CustomerSource {
        Visit = ("visit", "走访"),
        Referral = ("referral", "转介"),
        Campaign = ("campaign", "活动"),
        Outlet = ("outlet", "网点"),
        VillageCadre = ("village_cadre", "村委推荐"),
        Other = ("other", "其他"),
    }
}

/// A birthday. Rural customers often keep their birthday by the lunar calendar, so the month and
/// day may be lunar ones (`lunar = true`, `leap_month` for a 闰月).
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Birthday {
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub year: Option<i64>,
    pub month: u8,
    pub day: u8,
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub lunar: bool,
    #[cfg_attr(feature = "uniffi", uniffi(default = false))]
    pub leap_month: bool,
}

impl Birthday {
    pub fn validate(&self, field: &str) -> Checked {
        let bad = || Err(ValidationError::new(field, Problem::ImpossibleDate));
        if let Some(year) = self.year
            && !(1900..=2100).contains(&year)
        {
            return Err(ValidationError::new(field, Problem::OutOfRange));
        }
        if self.lunar {
            // Lunar months have 29 or 30 days; which one depends on the year, so only bounds here.
            if !(1..=12).contains(&self.month) || !(1..=30).contains(&self.day) {
                return bad();
            }
        } else {
            if self.leap_month {
                return bad();
            }
            // Without a year, 29 February stays possible.
            let year = self.year.map(|y| y as i32).unwrap_or(2000);
            if !is_real_date(year, u32::from(self.month), u32::from(self.day)) {
                return bad();
            }
        }
        Ok(())
    }
}

/// True for a real Gregorian date.
pub fn is_real_date(year: i32, month: u32, day: u32) -> bool {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// A WGS-84 position as the device's location provider reported it.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct GeoPoint {
    pub lat: f64,
    pub lng: f64,
    /// Horizontal accuracy in metres.
    pub accuracy_m: f64,
}

impl GeoPoint {
    pub fn validate(&self, field: &str) -> Checked {
        let err = |p| Err(ValidationError::new(field, p));
        if !self.lat.is_finite() || !self.lng.is_finite() || !self.accuracy_m.is_finite() {
            return err(Problem::NotFinite);
        }
        if !(-90.0..=90.0).contains(&self.lat) || !(-180.0..=180.0).contains(&self.lng) {
            return err(Problem::OutOfRange);
        }
        if self.lat == 0.0 && self.lng == 0.0 {
            return err(Problem::NullIsland);
        }
        if !(0.0..=100_000.0).contains(&self.accuracy_m) {
            return err(Problem::OutOfRange);
        }
        Ok(())
    }

    /// The great-circle distance to `other` in metres (haversine on a sphere of the Earth's mean
    /// radius: within 0.5 % of the ellipsoid, plenty for telling a village from the next).
    pub fn distance_m(&self, other: &GeoPoint) -> f64 {
        const EARTH_RADIUS_M: f64 = 6_371_008.8;
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = lat2 - lat1;
        let dlng = (other.lng - self.lng).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
    }
}

/// A set of tags. Stored as a map from tag to `true`, so that concurrent additions on two tablets
/// both survive a merge (a list would interleave or duplicate them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tags(pub BTreeSet<String>);

impl Reconcile for Tags {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
        use autosurgeon::reconcile::MapReconciler;
        let mut map = reconciler.map()?;
        let stale: Vec<String> = map.entries().map(|(k, _)| k.to_string()).filter(|k| !self.0.contains(k)).collect();
        for key in stale {
            map.delete(&key)?;
        }
        for tag in &self.0 {
            map.put(tag, true)?;
        }
        Ok(())
    }
}

impl Hydrate for Tags {
    fn hydrate_map<D: ReadDoc>(doc: &D, obj: &automerge::ObjId) -> Result<Self, HydrateError> {
        Ok(Tags(doc.map_range(obj, ..).map(|item| item.key.into_owned()).collect()))
    }
}

// Tags cross to the apps as a list of strings (sorted, each once).
#[cfg(feature = "uniffi")]
uniffi::custom_type!(Tags, Vec<String>, {
    lower: |tags| tags.0.into_iter().collect(),
    try_lift: |list| Ok(Tags(list.into_iter().collect())),
});

impl Tags {
    pub fn validate(&self, field: &str) -> Checked {
        if self.0.len() > 50 {
            return Err(ValidationError::new(field, Problem::OutOfRange));
        }
        self.0.iter().try_for_each(|t| check::name(field, t, 20))
    }

    /// Tags in NFC; two spellings of one tag become one.
    pub fn normalize(&mut self) {
        if !self.0.iter().all(|t| text::is_nfc(t)) {
            self.0 = std::mem::take(&mut self.0)
                .into_iter()
                .map(|mut t| {
                    text::normalize_line(&mut t);
                    t
                })
                .collect();
        }
    }
}

/// Everything a manager records about who the customer is.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Profile {
    pub kind: CustomerKind,
    pub name: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub phone: Option<String>,
    /// Resident ID number (GB 11643); individuals only.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub id_number: Option<String>,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub gender: Option<Gender>,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub birthday: Option<Birthday>,
    /// The village or grid (网格) the customer belongs to.
    pub village: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    pub address: String,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub location: Option<GeoPoint>,
    /// Occupation for people, industry for companies.
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    pub occupation: String,
    pub source: CustomerSource,
    #[cfg_attr(feature = "uniffi", uniffi(default = []))]
    pub tags: Tags,
    #[cfg_attr(feature = "uniffi", uniffi(default = ""))]
    pub notes: String,
}

impl Profile {
    /// Stores what the user typed in NFC (see `text.rs`), the phone and ID number in their
    /// canonical forms (see `phone.rs`, `idcard.rs`).
    pub fn normalize(&mut self) {
        text::normalize_line(&mut self.name);
        if let Some(p) = &mut self.phone {
            *p = phone::normalize(p);
        }
        if let Some(id) = &mut self.id_number {
            *id = idcard::normalize(id);
        }
        text::normalize_line(&mut self.village);
        text::normalize_line(&mut self.address);
        text::normalize_line(&mut self.occupation);
        text::normalize_text(&mut self.notes);
        self.tags.normalize();
    }

    /// A minimal valid profile, for callers that fill the rest in afterwards.
    pub fn new(kind: CustomerKind, name: impl Into<String>, village: impl Into<String>) -> Self {
        Profile {
            kind,
            name: name.into(),
            phone: None,
            id_number: None,
            gender: None,
            birthday: None,
            village: village.into(),
            address: String::new(),
            location: None,
            occupation: String::new(),
            source: CustomerSource::Visit,
            tags: Tags::default(),
            notes: String::new(),
        }
    }

    pub fn validate(&self) -> Checked {
        check::name("profile.name", &self.name, check::MAX_SHORT)?;
        check::name("profile.village", &self.village, check::MAX_SHORT)?;
        check::line("profile.address", &self.address, 200)?;
        check::line("profile.occupation", &self.occupation, check::MAX_SHORT)?;
        check::text("profile.notes", &self.notes, check::MAX_TEXT)?;
        if let Some(p) = &self.phone {
            phone::validate("profile.phone", p)?;
        }
        if let Some(id) = &self.id_number {
            if self.kind == CustomerKind::Corporate {
                return Err(ValidationError::new("profile.id_number", Problem::BadFormat));
            }
            idcard::validate("profile.id_number", id)?;
        }
        if let Some(b) = &self.birthday {
            b.validate("profile.birthday")?;
        }
        if let Some(loc) = &self.location {
            loc.validate("profile.location")?;
        }
        self.tags.validate("profile.tags")
    }

    /// The checks that need today's date (where the customer lives): nobody is born after today.
    pub fn check_dates(&self, today: jiff::civil::Date) -> Checked {
        if let Some(id) = &self.id_number {
            idcard::check_born_by("profile.id_number", id, today)?;
        }
        if let Some(b) = &self.birthday
            && let Some(year) = b.year
        {
            let future = if b.lunar {
                year > i64::from(today.year())
            } else {
                jiff::civil::Date::new(year as i16, b.month as i8, b.day as i8).is_ok_and(|d| d > today)
            };
            if future {
                return Err(ValidationError::new("profile.birthday", Problem::InTheFuture));
            }
        }
        Ok(())
    }
}

/// Today's civil date in China (UTC+8, no daylight saving) at `now_ms`: the day a birth date or a
/// due date is compared with.
pub fn china_today(now_ms: i64) -> jiff::civil::Date {
    const UTC8_MS: i64 = 8 * 3_600_000;
    let days = (now_ms + UTC8_MS).div_euclid(86_400_000);
    jiff::civil::date(1970, 1, 1).checked_add(jiff::Span::new().days(days)).unwrap_or(jiff::civil::Date::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birthdays() {
        let b = |year, month, day, lunar, leap_month| Birthday { year, month, day, lunar, leap_month };
        assert!(b(Some(1964), 8, 27, false, false).validate("b").is_ok());
        assert!(b(None, 2, 29, false, false).validate("b").is_ok());
        assert!(b(Some(1963), 2, 29, false, false).validate("b").is_err());
        assert!(b(Some(1964), 12, 30, true, false).validate("b").is_ok());
        assert!(b(Some(1964), 12, 31, true, false).validate("b").is_err());
        assert!(b(Some(1964), 4, 10, false, true).validate("b").is_err());
        assert!(b(Some(1800), 4, 10, false, false).validate("b").is_err());
    }

    #[test]
    fn distances_between_known_places() {
        let p = |lat, lng| GeoPoint { lat, lng, accuracy_m: 10.0 };
        // Wuhan to Beijing: 1,052 km by great circle.
        let d = p(30.5928, 114.3055).distance_m(&p(39.9042, 116.4074));
        assert!((d - 1_052_000.0).abs() < 5_000.0, "{d}");
        // 0.001 degree of latitude is 111 m anywhere.
        let d = p(30.0, 114.0).distance_m(&p(30.001, 114.0));
        assert!((d - 111.2).abs() < 0.5, "{d}");
        assert_eq!(p(30.0, 114.0).distance_m(&p(30.0, 114.0)), 0.0);
        // Antipodes stay finite (the square root is clamped).
        assert!(p(45.0, 0.0).distance_m(&p(-45.0, 180.0)).is_finite());
    }

    #[test]
    fn impossible_coordinates_are_refused() {
        let p = |lat, lng, accuracy_m| GeoPoint { lat, lng, accuracy_m };
        assert!(p(31.68, 105.42, 20.0).validate("l").is_ok());
        assert_eq!(p(91.0, 105.0, 5.0).validate("l").unwrap_err().problem, Problem::OutOfRange);
        assert_eq!(p(31.0, 181.0, 5.0).validate("l").unwrap_err().problem, Problem::OutOfRange);
        assert_eq!(p(f64::NAN, 1.0, 5.0).validate("l").unwrap_err().problem, Problem::NotFinite);
        assert_eq!(p(0.0, 0.0, 5.0).validate("l").unwrap_err().problem, Problem::NullIsland);
        assert_eq!(p(31.0, 105.0, -1.0).validate("l").unwrap_err().problem, Problem::OutOfRange);
    }

    #[test]
    fn nobody_is_born_after_today() {
        let today = china_today(1_795_924_800_000); // 2026-11-29 12:00 in China
        assert_eq!(today, jiff::civil::date(2026, 11, 29));
        assert_eq!(china_today(0), jiff::civil::date(1970, 1, 1));
        // 2026-11-29 16:00 UTC is already the 30th in China.
        assert_eq!(china_today(1_795_968_000_000), jiff::civil::date(2026, 11, 30));
        let mut p = Profile::new(CustomerKind::Individual, "杨桂敏", "韩桥村");
        p.birthday = Some(Birthday { year: Some(2026), month: 11, day: 30, lunar: false, leap_month: false });
        assert_eq!(p.check_dates(today).unwrap_err().problem, Problem::InTheFuture);
        p.birthday = Some(Birthday { year: Some(2026), month: 11, day: 29, lunar: false, leap_month: false });
        assert_eq!(p.check_dates(today), Ok(()));
        p.birthday = Some(Birthday { year: Some(2027), month: 1, day: 2, lunar: true, leap_month: false });
        assert_eq!(p.check_dates(today).unwrap_err().field, "profile.birthday");
    }

    #[test]
    fn typed_phone_and_id_numbers_are_stored_canonical() {
        let mut p = Profile::new(CustomerKind::Individual, "杨桂敏", "韩桥村");
        p.phone = Some("+86 138-1234-1234".into());
        p.id_number = Some(" 11010519491231002x ".into());
        p.normalize();
        assert_eq!(p.phone.as_deref(), Some("13812341234"));
        assert_eq!(p.id_number.as_deref(), Some("11010519491231002X"));
        assert_eq!(p.validate(), Ok(()));
    }

    #[test]
    fn profile_rules() {
        let mut p = Profile::new(CustomerKind::Individual, "杨桂敏", "韩桥村");
        assert!(p.validate().is_ok());
        p.id_number = Some("422822196408275664".into());
        assert_eq!(p.validate().unwrap_err().field, "profile.id_number");
        p.id_number = Some("422822196408275665".into());
        p.phone = Some("1619296999".into());
        assert_eq!(p.validate().unwrap_err().field, "profile.phone");
        p.phone = Some("16192969992".into());
        p.name = "  ".into();
        assert_eq!(p.validate().unwrap_err(), ValidationError::new("profile.name", Problem::Required));
    }
}
