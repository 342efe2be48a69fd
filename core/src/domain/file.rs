//! The customer file (客户档案): everything about one customer, kept as one automerge document.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};

use super::activity::{Interaction, Reminder};
use super::contact::Contact;
use super::customer::Profile;
use super::error::Checked;
use super::lead::Lead;
use super::server::{Intent, Review, ServerFields};
use super::visit::Visit;

/// The version of the document layout below. A reader refuses documents with a newer version.
pub const SCHEMA_VERSION: u64 = 1;

/// Maps are keyed by the entity's ID so that concurrent additions on two devices never collide.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate)]
pub struct CustomerFile {
    pub schema: u64,
    pub id: String,
    pub created_by: String,
    pub created_at: i64,
    pub profile: Profile,
    pub contacts: BTreeMap<String, Contact>,
    pub visits: BTreeMap<String, Visit>,
    pub leads: BTreeMap<String, Lead>,
    pub reminders: BTreeMap<String, Reminder>,
    pub interactions: BTreeMap<String, Interaction>,
    /// Intents written by tablets (e.g. claim from the pool), resolved by the server.
    pub intents: BTreeMap<String, Intent>,
    /// Written only by supervisors through the server, keyed by visit ID.
    pub reviews: BTreeMap<String, Review>,
    /// Written only by the server.
    pub server: ServerFields,
}

impl CustomerFile {
    pub fn new(id: String, profile: Profile, created_by: String, created_at: i64) -> Self {
        CustomerFile {
            schema: SCHEMA_VERSION,
            id,
            created_by,
            created_at,
            profile,
            contacts: BTreeMap::new(),
            visits: BTreeMap::new(),
            leads: BTreeMap::new(),
            reminders: BTreeMap::new(),
            interactions: BTreeMap::new(),
            intents: BTreeMap::new(),
            reviews: BTreeMap::new(),
            server: ServerFields::default(),
        }
    }

    /// Field-level checks of every entity. Cross-entity rules that concurrent edits may break (two
    /// visits in progress after a merge) are not checked here: a merge result is always accepted.
    pub fn validate(&self) -> Checked {
        self.profile.validate()?;
        self.contacts.values().try_for_each(Contact::validate)?;
        self.visits.values().try_for_each(Visit::validate)?;
        self.leads.values().try_for_each(Lead::validate)?;
        self.reminders.values().try_for_each(Reminder::validate)?;
        self.interactions.values().try_for_each(Interaction::validate)?;
        self.reviews.values().try_for_each(Review::validate)?;
        self.server.validate()
    }

    /// Puts the text of what one action touched in NFC, so that what a device commits is canonical
    /// whoever typed it and however (see `text.rs`).
    pub fn normalize_touched(&mut self, touched: &super::Touched) {
        use super::Touched;
        fn one<V>(map: &mut BTreeMap<String, V>, id: &str, normalize: fn(&mut V)) {
            if let Some(v) = map.get_mut(id) {
                normalize(v);
            }
        }
        match touched {
            Touched::Everything => {
                self.profile.normalize();
                self.contacts.values_mut().for_each(Contact::normalize);
                self.visits.values_mut().for_each(Visit::normalize);
                self.leads.values_mut().for_each(Lead::normalize);
                self.reminders.values_mut().for_each(Reminder::normalize);
                self.interactions.values_mut().for_each(Interaction::normalize);
                self.reviews.values_mut().for_each(Review::normalize);
                self.server.normalize();
            }
            Touched::Profile => self.profile.normalize(),
            Touched::Contact(id) => one(&mut self.contacts, id, Contact::normalize),
            Touched::Visit(id) => one(&mut self.visits, id, Visit::normalize),
            Touched::Lead(id) => one(&mut self.leads, id, Lead::normalize),
            Touched::Reminder(id) => one(&mut self.reminders, id, Reminder::normalize),
            Touched::Interaction(id) => one(&mut self.interactions, id, Interaction::normalize),
            Touched::Review(id) => one(&mut self.reviews, id, Review::normalize),
            Touched::Server => self.server.normalize(),
            Touched::Intent(_) => {}
        }
    }

    /// Checks what one action touched: the cost of a write does not grow with the customer's history.
    pub fn validate_touched(&self, touched: &super::Touched) -> Checked {
        use super::Touched;
        fn one<V>(map: &BTreeMap<String, V>, id: &str, check: fn(&V) -> Checked) -> Checked {
            map.get(id).map_or(Ok(()), check)
        }
        match touched {
            Touched::Everything => self.validate(),
            Touched::Profile => self.profile.validate(),
            Touched::Contact(id) => one(&self.contacts, id, Contact::validate),
            Touched::Visit(id) => one(&self.visits, id, Visit::validate),
            Touched::Lead(id) => one(&self.leads, id, Lead::validate),
            Touched::Reminder(id) => one(&self.reminders, id, Reminder::validate),
            Touched::Interaction(id) => one(&self.interactions, id, Interaction::validate),
            Touched::Review(id) => one(&self.reviews, id, Review::validate),
            Touched::Server => self.server.validate(),
            Touched::Intent(_) => Ok(()),
        }
    }

    /// Takes in `other`, a second file of the same customer: records this file lacks (by ID; on
    /// the same ID, this file's stays), and the profile fields this file leaves empty.
    pub fn take_in(&mut self, other: &CustomerFile) {
        fn add<V: Clone>(mine: &mut BTreeMap<String, V>, theirs: &BTreeMap<String, V>) {
            for (k, v) in theirs {
                mine.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        add(&mut self.contacts, &other.contacts);
        add(&mut self.visits, &other.visits);
        add(&mut self.leads, &other.leads);
        add(&mut self.reminders, &other.reminders);
        add(&mut self.interactions, &other.interactions);
        add(&mut self.intents, &other.intents);
        add(&mut self.reviews, &other.reviews);
        add(&mut self.server.owner_history, &other.server.owner_history);
        let (mine, theirs) = (&mut self.profile, &other.profile);
        fn fill<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if mine.is_none() {
                mine.clone_from(theirs);
            }
        }
        fill(&mut mine.phone, &theirs.phone);
        fill(&mut mine.id_number, &theirs.id_number);
        fill(&mut mine.gender, &theirs.gender);
        fill(&mut mine.birthday, &theirs.birthday);
        fill(&mut mine.location, &theirs.location);
        for (m, t) in [(&mut mine.address, &theirs.address), (&mut mine.occupation, &theirs.occupation)] {
            if m.is_empty() {
                m.clone_from(t);
            }
        }
        if !theirs.notes.is_empty() && !mine.notes.contains(theirs.notes.as_str()) {
            mine.notes =
                if mine.notes.is_empty() { theirs.notes.clone() } else { format!("{}\n{}", mine.notes, theirs.notes) };
        }
        mine.tags.0.extend(theirs.tags.0.iter().cloned());
    }

    /// The visit that set the customer's next follow-up: the latest completed visit.
    pub fn last_completed_visit(&self) -> Option<&Visit> {
        self.visits
            .values()
            .filter(|v| v.status == super::VisitStatus::Completed)
            .max_by_key(|v| (v.when(), v.id.as_str()))
    }
}
