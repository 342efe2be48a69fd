//! The object the apps hold: one store on the tablet, who is signed in on it, and its sync. A
//! thin layer over [`Device`] and the core's [`Store`](fieldsync_core::store::Store): each call
//! takes the device for the length of the call only, so a sync on a background thread leaves
//! lists readable and forms writable between its round trips.
//!
//! Every call runs inside [`contain`]: a fault inside the library comes out as
//! [`FieldsyncError::Internal`], never as a crash of the app.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use fieldsync_core::domain::{
    Action, CatalogProduct, Channel, CheckPoint, Contact, Interaction, InteractionKind, LeadSource, LeadStage,
    MonthProgress, NewLead, PoolRules, Product, Profile, Reminder, ReminderKind, VisitDetails, VisitPurpose,
};
use fieldsync_core::store::{DuplicateMatch, FunnelStage, Key, PoolSummary, RecycleWarning, TodayItem, VisitSummary};
use fieldsync_core::sync::{SyncOptions, SyncProgress};

use crate::device::{
    Device, DeviceAccess, DeviceError, login_in_steps, logout_in_steps, photo_in_steps, sync_in_steps,
};
use crate::error::FieldsyncError;
use crate::records::{
    Customer360, CustomerPage, CustomerQuery, LeadPage, RefusedChange, ReminderPage, SignedIn, SyncSettings,
};

type Result<T> = std::result::Result<T, FieldsyncError>;

/// Runs one call of the apps' API; a panic inside becomes an error of this call.
fn contain<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        // Only a literal message is passed on: a formatted one could carry a value.
        let reason = payload.downcast_ref::<&'static str>().copied().unwrap_or("a fault inside the library");
        Err(FieldsyncError::Internal { reason: reason.to_string() })
    })
}

/// Now, by the tablet's clock, in UTC ms.
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Told after each round trip of a sync (and each photo sent), on the syncing thread.
#[uniffi::export(foreign)]
pub trait SyncListener: Send + Sync {
    fn on_progress(&self, progress: SyncProgress);
}

/// Cancels a sync from any thread: it stops before its next round trip; what it finished is kept.
#[derive(Debug, Default, uniffi::Object)]
pub struct SyncCancel {
    cancelled: AtomicBool,
}

#[uniffi::export]
impl SyncCancel {
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(SyncCancel::default())
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// A tablet's store, opened once and shared by the app's threads.
#[derive(uniffi::Object)]
pub struct FieldsyncDevice {
    /// `None` once closed.
    device: Mutex<Option<Device>>,
}

impl FieldsyncDevice {
    /// Runs `f` on the open device (the lock is held for this call only).
    fn with<T>(&self, f: impl FnOnce(&mut Device) -> Result<T>) -> Result<T> {
        contain(|| {
            let mut guard = self.device.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let device = guard.as_mut().ok_or(FieldsyncError::Closed)?;
            f(device)
        })
    }

    /// One action on one customer, as one durable commit; whether it changed anything.
    fn act(&self, customer_id: &str, action: Action) -> Result<bool> {
        self.with(|d| Ok(d.store().apply(customer_id, &action, now_ms())?.changed))
    }
}

/// The open device, lent to a sync step by step.
struct Open<'a>(&'a Mutex<Option<Device>>);

/// The lock's guard, narrowed to the device inside (checked open when taken).
struct OpenGuard<'a>(std::sync::MutexGuard<'a, Option<Device>>);

impl std::ops::Deref for OpenGuard<'_> {
    type Target = Device;
    fn deref(&self) -> &Device {
        self.0.as_ref().expect("an OpenGuard holds an open device")
    }
}

impl std::ops::DerefMut for OpenGuard<'_> {
    fn deref_mut(&mut self) -> &mut Device {
        self.0.as_mut().expect("an OpenGuard holds an open device")
    }
}

impl DeviceAccess for Open<'_> {
    type Guard<'a>
        = OpenGuard<'a>
    where
        Self: 'a;

    fn borrow(&self) -> std::result::Result<OpenGuard<'_>, DeviceError> {
        let guard = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.is_none() {
            return Err(DeviceError::Closed);
        }
        Ok(OpenGuard(guard))
    }
}

#[uniffi::export]
impl FieldsyncDevice {
    /// Opens (or creates) the store at `path`; with a 32-byte `key` everything on disk is
    /// encrypted. A file the key does not open is moved aside ([`FieldsyncError::WrongKey`]), as
    /// is a foreign or damaged one ([`FieldsyncError::StoreMovedAside`]); nothing is deleted.
    #[uniffi::constructor]
    pub fn open(path: String, key: Option<Vec<u8>>) -> Result<Arc<Self>> {
        contain(|| {
            let key = key.map(|k| Key::from_slice(&k)).transpose()?;
            let device = Device::open(&path, key.as_ref())?;
            Ok(Arc::new(FieldsyncDevice { device: Mutex::new(Some(device)) }))
        })
    }

    /// Closes the store now (a sync in progress finishes its current step first; the object's
    /// own release, e.g. Kotlin's `close()`, closes it too). Later calls fail with
    /// [`FieldsyncError::Closed`].
    pub fn close_store(&self) {
        let mut guard = self.device.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.take();
    }

    /// This tablet's ID, minted once per store.
    pub fn device_id(&self) -> Result<String> {
        self.with(|d| Ok(d.device_id()?))
    }

    /// Signs in against the branch server at `server` (e.g. `https://branch.example:8443`). Over
    /// HTTPS the server's certificate must verify against the public roots built into the app, or
    /// only against the CA in `ca_pem` (PEM) when the branch runs its own; the choice is kept for
    /// every later sync. The store stays usable by other threads while the server answers.
    #[uniffi::method(default(ca_pem = None))]
    pub fn login(
        &self,
        server: String,
        username: String,
        password: String,
        ca_pem: Option<String>,
    ) -> Result<SignedIn> {
        contain(|| {
            login_in_steps(&Open(&self.device), &server, ca_pem.as_deref(), &username, &password)?;
            self.with(|d| signed_in(d)?.ok_or(FieldsyncError::SignInAgain))
        })
    }

    /// Signs out on the server and wipes the tablet (sync first: unsynced work is lost). The store
    /// stays usable by other threads while the server answers.
    pub fn logout(&self) -> Result<()> {
        contain(|| Ok(logout_in_steps(&Open(&self.device))?))
    }

    /// Who is signed in, if anyone.
    pub fn signed_in(&self) -> Result<Option<SignedIn>> {
        self.with(signed_in)
    }

    // ---- customers -----------------------------------------------------------------------

    /// Creates a customer file; returns its ID.
    pub fn create_customer(&self, profile: Profile) -> Result<String> {
        self.with(|d| Ok(d.store().create_customer(profile, now_ms())?))
    }

    /// Replaces the profile; whether anything changed.
    pub fn update_profile(&self, customer_id: String, profile: Profile) -> Result<bool> {
        self.act(&customer_id, Action::UpdateProfile { profile })
    }

    /// Adds a contact (an empty `id` gets a new one) or replaces the one with its ID; returns the
    /// contact's ID.
    pub fn save_contact(&self, customer_id: String, mut contact: Contact) -> Result<String> {
        if contact.id.is_empty() {
            contact.id = fieldsync_core::ids::new_id();
        }
        let id = contact.id.clone();
        self.act(&customer_id, Action::UpsertContact { contact })?;
        Ok(id)
    }

    pub fn remove_contact(&self, customer_id: String, contact_id: String) -> Result<()> {
        self.act(&customer_id, Action::RemoveContact { contact_id }).map(drop)
    }

    /// Records a consultation, a complaint or a care call; `at` is when it happened. Returns its ID.
    pub fn add_interaction(
        &self,
        customer_id: String,
        kind: InteractionKind,
        summary: String,
        at: i64,
        visit_id: Option<String>,
    ) -> Result<String> {
        let id = fieldsync_core::ids::new_id();
        let interaction = Interaction {
            id: id.clone(),
            kind,
            summary,
            at,
            captured_at: now_ms(),
            visit_id,
            resolved_at: None,
            resolution: None,
        };
        self.act(&customer_id, Action::AddInteraction { interaction })?;
        Ok(id)
    }

    /// Records a complaint (or any interaction) handled now, with how: the complaint leaves the
    /// "today" list and its service clock stops at this moment, offline too.
    pub fn resolve_interaction(&self, customer_id: String, interaction_id: String, resolution: String) -> Result<()> {
        self.act(&customer_id, Action::ResolveInteraction { interaction_id, resolution }).map(drop)
    }

    // ---- visits --------------------------------------------------------------------------

    /// Plans a visit; returns its ID.
    pub fn plan_visit(
        &self,
        customer_id: String,
        purpose: VisitPurpose,
        channel: Channel,
        planned_at: i64,
    ) -> Result<String> {
        let visit_id = fieldsync_core::ids::new_id();
        self.act(&customer_id, Action::PlanVisit { visit_id: visit_id.clone(), purpose, channel, planned_at })?;
        Ok(visit_id)
    }

    /// Starts an unplanned visit on the spot (created and checked in); returns its ID.
    pub fn start_visit(
        &self,
        customer_id: String,
        purpose: VisitPurpose,
        channel: Channel,
        check_in: CheckPoint,
    ) -> Result<String> {
        let visit_id = fieldsync_core::ids::new_id();
        self.act(&customer_id, Action::StartVisit { visit_id: visit_id.clone(), purpose, channel, check_in })?;
        Ok(visit_id)
    }

    /// Checks in to a planned visit.
    pub fn check_in(&self, customer_id: String, visit_id: String, check_in: CheckPoint) -> Result<()> {
        self.act(&customer_id, Action::CheckIn { visit_id, check_in }).map(drop)
    }

    /// Checks out, with what the visit brought.
    pub fn check_out(
        &self,
        customer_id: String,
        visit_id: String,
        check_out: CheckPoint,
        details: VisitDetails,
    ) -> Result<()> {
        self.act(&customer_id, Action::CheckOut { visit_id, check_out, details }).map(drop)
    }

    /// Records a visit after the fact (补录): created completed; returns its ID.
    pub fn record_visit(
        &self,
        customer_id: String,
        purpose: VisitPurpose,
        channel: Channel,
        check_in: CheckPoint,
        check_out: CheckPoint,
        details: VisitDetails,
    ) -> Result<String> {
        let visit_id = fieldsync_core::ids::new_id();
        let action = Action::RecordVisit { visit_id: visit_id.clone(), purpose, channel, check_in, check_out, details };
        self.act(&customer_id, action)?;
        Ok(visit_id)
    }

    /// Edits a visit's notes, costs, participants, products, photos, follow-up date.
    pub fn update_visit(&self, customer_id: String, visit_id: String, details: VisitDetails) -> Result<bool> {
        self.act(&customer_id, Action::UpdateVisit { visit_id, details })
    }

    pub fn abandon_visit(&self, customer_id: String, visit_id: String) -> Result<()> {
        self.act(&customer_id, Action::AbandonVisit { visit_id }).map(drop)
    }

    /// Keeps a photo (JPEG bytes); returns its hash, to list in a visit's `photos`.
    pub fn add_photo(&self, bytes: Vec<u8>) -> Result<String> {
        self.with(|d| Ok(d.store().add_photo(&bytes)?))
    }

    /// Keeps the photo at `path` (e.g. the camera's output file); returns its hash.
    pub fn add_photo_file(&self, path: String) -> Result<String> {
        use std::io::Read;
        let limit = fieldsync_core::store::MAX_PHOTO_BYTES as u64;
        let mut bytes = Vec::new();
        std::fs::File::open(&path)
            .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
            .map_err(|e| FieldsyncError::Storage { reason: format!("reading the photo: {}", e.kind()) })?;
        self.add_photo(bytes)
    }

    /// A visit's photo: from this tablet, or fetched from the server (and kept) when online. The
    /// download runs without holding the store.
    pub fn photo(&self, hash: String) -> Result<Vec<u8>> {
        contain(|| Ok(photo_in_steps(&Open(&self.device), &hash)?))
    }

    // ---- leads, reminders, the pool ------------------------------------------------------

    /// Opens a lead; `probability` defaults to the stage's usual odds; `catalog_id` names the
    /// branch catalog's product it is for (see [`Self::catalog`]). Returns its ID.
    #[allow(clippy::too_many_arguments)]
    #[uniffi::method(default(catalog_id = None))]
    pub fn add_lead(
        &self,
        customer_id: String,
        product: Product,
        amount_fen: i64,
        source: LeadSource,
        expected_close: Option<i64>,
        probability: Option<u8>,
        visit_id: Option<String>,
        notes: String,
        catalog_id: Option<String>,
    ) -> Result<String> {
        let id = fieldsync_core::ids::new_id();
        let lead = NewLead {
            id: id.clone(),
            product,
            amount_fen,
            source,
            expected_close,
            probability,
            visit_id,
            notes,
            catalog_id,
        };
        self.act(&customer_id, Action::AddLead { lead })?;
        Ok(id)
    }

    pub fn update_lead(
        &self,
        customer_id: String,
        lead_id: String,
        amount_fen: i64,
        expected_close: Option<i64>,
        probability: u8,
        notes: String,
    ) -> Result<bool> {
        self.act(&customer_id, Action::UpdateLead { lead_id, amount_fen, expected_close, probability, notes })
    }

    /// Moves a lead to `stage` (a lost lead needs its reason).
    pub fn move_lead(
        &self,
        customer_id: String,
        lead_id: String,
        stage: LeadStage,
        lost_reason: Option<String>,
    ) -> Result<()> {
        self.act(&customer_id, Action::MoveLead { lead_id, stage, lost_reason }).map(drop)
    }

    /// Adds a reminder; returns its ID.
    pub fn add_reminder(&self, customer_id: String, kind: ReminderKind, due_at: i64, note: String) -> Result<String> {
        let id = fieldsync_core::ids::new_id();
        let reminder = Reminder { id: id.clone(), kind, due_at, note, done_at: None };
        self.act(&customer_id, Action::AddReminder { reminder })?;
        Ok(id)
    }

    pub fn complete_reminder(&self, customer_id: String, reminder_id: String) -> Result<()> {
        self.act(&customer_id, Action::CompleteReminder { reminder_id }).map(drop)
    }

    /// Asks to take a customer from the public pool; the server decides at the next sync (the
    /// first claim to reach it wins). Returns the claim's ID.
    pub fn claim_from_pool(&self, customer_id: String) -> Result<String> {
        self.with(|d| Ok(d.store().claim_from_pool(&customer_id, now_ms())?))
    }

    /// The public pool as this tablet holds it (masked), optionally of one village.
    pub fn pool(&self, village: Option<String>) -> Result<Vec<PoolSummary>> {
        self.with(|d| Ok(d.store().pool(village.as_deref())?))
    }

    /// Changes the server refused, with its reasons.
    pub fn refused_changes(&self) -> Result<Vec<RefusedChange>> {
        self.with(|d| Ok(d.store().quarantined()?.into_iter().map(RefusedChange::from).collect()))
    }

    // ---- what the screens show -----------------------------------------------------------

    /// A page of customers (masked), by name; `cursor` is the previous page's `next`.
    pub fn customers(&self, query: CustomerQuery, page_size: u32, cursor: Option<String>) -> Result<CustomerPage> {
        self.with(|d| Ok(d.store().customers(&query.into(), page_size, cursor.as_deref())?.into()))
    }

    /// One customer whole.
    pub fn customer_360(&self, customer_id: String) -> Result<Customer360> {
        self.with(|d| Ok(d.store().customer_360(&customer_id)?.into()))
    }

    /// The signed-in manager's visits planned in `[day_start, day_end)` (UTC ms of local midnights).
    pub fn todays_plan(&self, day_start: i64, day_end: i64) -> Result<Vec<VisitSummary>> {
        self.with(|d| Ok(d.store().todays_plan(day_start, day_end)?))
    }

    /// The signed-in manager's day `[day_start, day_end)` (UTC ms of local midnights): planned
    /// visits, follow-ups and reminders (birthdays, maturities, dividends, repayments, their own)
    /// due by its end, overdue ones marked, in time order. Works offline.
    pub fn today(&self, day_start: i64, day_end: i64) -> Result<Vec<TodayItem>> {
        self.with(|d| Ok(d.store().today(day_start, day_end)?))
    }

    /// Customers whose follow-up date has passed.
    pub fn overdue_follow_ups(&self, page_size: u32, cursor: Option<String>) -> Result<CustomerPage> {
        self.with(|d| Ok(d.store().overdue_follow_ups(now_ms(), page_size, cursor.as_deref())?.into()))
    }

    /// The signed-in manager's customers about to return to the public pool (their warning has
    /// begun), soonest first, with the days left: offline, from the rules the last sync brought.
    pub fn recycle_warnings(&self) -> Result<Vec<RecycleWarning>> {
        self.with(|d| Ok(d.store().recycle_warnings(now_ms())?))
    }

    /// Customers on this tablet with the same ID number or phone as `profile` (查重): the form
    /// shows them before a new customer is saved.
    pub fn possible_duplicates(&self, profile: Profile) -> Result<Vec<DuplicateMatch>> {
        self.with(|d| Ok(d.store().possible_duplicates(&profile)?))
    }

    /// The signed-in manager's month against its target: what the server had counted at the
    /// last sync plus the visits completed on this tablet since (offline). `None` without a
    /// target this month.
    pub fn month_progress(&self) -> Result<Option<MonthProgress>> {
        let now = now_ms();
        let (month, start) = fieldsync_core::domain::targets::china_month(now);
        self.with(|d| Ok(d.store().month_progress(&month, start, now)?))
    }

    /// The villages the signed-in manager is responsible for (their territory), offline.
    pub fn my_villages(&self) -> Result<Vec<String>> {
        self.with(|d| Ok(d.store().my_villages()?))
    }

    /// The public pool in the signed-in manager's villages, offline.
    pub fn pool_in_my_villages(&self) -> Result<Vec<PoolSummary>> {
        self.with(|d| Ok(d.store().pool_in_my_villages()?))
    }

    /// The branch's product catalog as the last sync brought it (offline; read-only).
    pub fn catalog(&self) -> Result<Vec<CatalogProduct>> {
        self.with(|d| Ok(d.store().catalog()?))
    }

    /// A catalog product's brochure, as this tablet keeps it for offline use (`None`: not fetched
    /// yet; the next sync fetches it).
    pub fn brochure(&self, hash: String) -> Result<Option<Vec<u8>>> {
        self.with(|d| Ok(d.store().brochure(&hash)?))
    }

    /// The branch's public-pool rules as the last sync brought them (`None` before the first).
    pub fn pool_rules(&self) -> Result<Option<PoolRules>> {
        self.with(|d| Ok(d.store().pool_rules()?))
    }

    /// Open reminders due before `until`, soonest first.
    pub fn upcoming_reminders(&self, until: i64, page_size: u32, cursor: Option<String>) -> Result<ReminderPage> {
        self.with(|d| Ok(d.store().upcoming_reminders(until, page_size, cursor.as_deref())?.into()))
    }

    /// Open leads, of one stage or all.
    pub fn open_leads(&self, stage: Option<LeadStage>, page_size: u32, cursor: Option<String>) -> Result<LeadPage> {
        self.with(|d| Ok(d.store().open_leads(stage, page_size, cursor.as_deref())?.into()))
    }

    pub fn funnel(&self) -> Result<Vec<FunnelStage>> {
        self.with(|d| Ok(d.store().funnel()?))
    }

    // ---- sync ----------------------------------------------------------------------------

    /// Syncs until nothing is left. Blocking: call it from a background thread (the app's other
    /// calls go on meanwhile). `listener` hears after each round trip; `cancel` stops it before
    /// the next one. A revoked device is wiped and answers [`FieldsyncError::DeviceRevoked`].
    pub fn sync(
        &self,
        settings: SyncSettings,
        listener: Option<Arc<dyn SyncListener>>,
        cancel: Option<Arc<SyncCancel>>,
    ) -> Result<SyncProgress> {
        contain(|| {
            let today = settings.today_start_ms.zip(settings.today_end_ms);
            let options = SyncOptions { today, now: now_ms(), ..SyncOptions::default() };
            let mut on_progress = |p: &SyncProgress| {
                if let Some(listener) = &listener {
                    listener.on_progress(p.clone());
                }
            };
            let cancelled = || cancel.as_ref().is_some_and(|c| c.is_cancelled());
            Ok(sync_in_steps(&Open(&self.device), options, &mut on_progress, &cancelled)?)
        })
    }

    /// The idle work after a first sync: checks up to `limit` documents received whole (a
    /// document that does not check is fetched again). Returns how many were checked; 0 when
    /// nothing is left. Run it from a background job (WorkManager, BGTaskScheduler).
    pub fn check_received(&self, limit: u32) -> Result<u32> {
        self.with(|d| Ok(d.store().check_received(limit)? as u32))
    }

    /// For the bindings' tests: provokes a fault inside the library and returns the error the app
    /// would see (never a crash).
    pub fn self_test_fault(&self) -> Result<()> {
        contain(|| panic!("self-test fault"))
    }
}

fn signed_in(d: &mut Device) -> Result<Option<SignedIn>> {
    let server = d.store().setting("server")?.unwrap_or_default();
    Ok(d.store().user().map(|u| SignedIn { user_id: u.id.clone(), display_name: u.name.clone(), role: u.role, server }))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::time::Duration;

    use fieldsync_core::domain::Role;
    use fieldsync_core::store::User;

    use super::*;
    use crate::records::OwnerFilter;

    /// A server that takes the connection and never answers, until `release` is sent; `accepted`
    /// hears when the request is on the wire.
    fn silent_server() -> (String, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (accepted_tx, accepted) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let (socket, _) = listener.accept().unwrap();
            accepted_tx.send(()).unwrap();
            let _ = release_rx.recv();
            drop(socket); // the client sees the connection closed: a network error
        });
        (url, accepted, release)
    }

    /// Lists the customers on another thread; whether it returned while the server stayed silent.
    fn lists_meanwhile(device: &Arc<FieldsyncDevice>) -> bool {
        let (done_tx, done) = mpsc::channel();
        let device = Arc::clone(device);
        std::thread::spawn(move || {
            let query = CustomerQuery {
                village: None,
                villages: Vec::new(),
                tag: None,
                tier: None,
                lifecycle: None,
                owner: OwnerFilter::Anyone,
                search: None,
            };
            let _ = done_tx.send(device.customers(query, 20, None).map(|page| page.items.len()));
        });
        // Not a timing assertion: a call blocked behind the network never returns while the server
        // stays silent; the bound only keeps a broken build from hanging the suite.
        matches!(done.recv_timeout(Duration::from_secs(30)), Ok(Ok(0)))
    }

    #[test]
    fn signing_in_and_out_leave_the_store_usable_while_the_server_answers() {
        let dir = tempfile::tempdir().unwrap();
        let device = FieldsyncDevice::open(dir.path().join("t.db").display().to_string(), None).unwrap();

        let (url, accepted, release) = silent_server();
        let login = {
            let device = Arc::clone(&device);
            std::thread::spawn(move || device.login(url, "manager1".into(), "pw".into(), None))
        };
        accepted.recv().unwrap();
        assert!(lists_meanwhile(&device), "a list waited for the sign-in's network call");
        release.send(()).unwrap();
        assert!(matches!(login.join().unwrap(), Err(FieldsyncError::Network { .. })));
        assert!(device.signed_in().unwrap().is_none());

        // Signed in (as the server would have left it), then signing out against a silent server.
        let (url, accepted, release) = silent_server();
        device
            .with(|d| {
                d.store().sign_in(User { id: "m1".into(), name: "李经理".into(), role: Role::Manager })?;
                d.store().set_setting("server", &url)?;
                d.store().set_setting("token", "t")?;
                Ok(())
            })
            .unwrap();
        let logout = {
            let device = Arc::clone(&device);
            std::thread::spawn(move || device.logout())
        };
        accepted.recv().unwrap();
        assert!(lists_meanwhile(&device), "a list waited for the sign-out's network call");
        release.send(()).unwrap();
        // The server never confirmed: the tablet is not wiped and still signed in.
        assert!(matches!(logout.join().unwrap(), Err(FieldsyncError::Network { .. })));
        assert_eq!(device.signed_in().unwrap().map(|s| s.user_id), Some("m1".to_string()));
    }
}
