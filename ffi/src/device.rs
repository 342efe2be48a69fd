//! A device: its store, its credentials (kept in the store, so encrypted and wiped with it) and
//! sync over HTTP.

use std::cell::{RefCell, RefMut};
use std::ops::DerefMut;
use std::path::Path;

use fieldsync_core::domain::Role;
use fieldsync_core::store::{Key, Store, User};
use fieldsync_core::sync::{StoreAccess, SyncError, SyncOptions, SyncProgress, SyncReport, run_in_steps};

use crate::transport::{self, HttpError, HttpTransport, Trust};

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(transparent)]
    Store(#[from] fieldsync_core::Error),
    /// Boxed: a server's answer carries its messages, and errors stay small to move around.
    #[error(transparent)]
    Http(Box<HttpError>),
    #[error(transparent)]
    Sync(Box<SyncError>),
    #[error("this device is not signed in")]
    NotSignedIn,
    #[error("the server returned an unknown role")]
    UnknownRole,
    #[error("the store was closed")]
    Closed,
}

impl From<HttpError> for DeviceError {
    fn from(e: HttpError) -> Self {
        DeviceError::Http(Box::new(e))
    }
}

impl From<SyncError> for DeviceError {
    fn from(e: SyncError) -> Self {
        DeviceError::Sync(Box::new(e))
    }
}

pub struct Device {
    store: Store,
}

impl Device {
    pub fn open(path: impl AsRef<Path>, key: Option<&Key>) -> Result<Device, DeviceError> {
        Ok(Device { store: Store::open(path, key)? })
    }

    pub fn store(&mut self) -> &mut Store {
        &mut self.store
    }

    /// This device's ID, minted once per store.
    pub fn device_id(&mut self) -> Result<String, DeviceError> {
        if let Some(id) = self.store.setting("device_id")? {
            return Ok(id);
        }
        let id = uuid::Uuid::new_v4().to_string();
        self.store.set_setting("device_id", &id)?;
        Ok(id)
    }

    /// Signs in against `server`; the token is bound to this device and kept in the store, and the
    /// store's automerge actor is registered with the server. When another person was signed in
    /// here, their session is ended on the server first and the tablet wiped (their customers must
    /// not stay on it), then the new user signs in under the wiped store's new actor.
    pub fn login(&mut self, server: &str, username: &str, password: &str) -> Result<(), DeviceError> {
        self.login_trusting(server, None, username, password)
    }

    /// Signs in trusting only certificates issued under the CA in `ca_pem` (the branch's own),
    /// or the public roots when `None`; the choice is kept for every later request.
    pub fn login_trusting(
        &mut self,
        server: &str,
        ca_pem: Option<&str>,
        username: &str,
        password: &str,
    ) -> Result<(), DeviceError> {
        login_in_steps(&Exclusive(RefCell::new(self)), server, ca_pem, username, password)
    }

    /// Signs out: the server ends this device's session (freeing it for a colleague), and the
    /// tablet is wiped. Unsynced work is lost, so the app syncs first.
    pub fn logout(&mut self) -> Result<(), DeviceError> {
        logout_in_steps(&Exclusive(RefCell::new(self)))
    }

    /// Wipes the store, keeping the device's ID (the server knows the tablet by it).
    fn wipe_keeping_id(&mut self) -> Result<(), DeviceError> {
        let device_id = self.device_id()?;
        self.store.wipe()?;
        self.store.set_setting("device_id", &device_id)?;
        Ok(())
    }

    /// The transport for this device's server and token.
    pub fn transport(&mut self) -> Result<HttpTransport, DeviceError> {
        let server = self.store.setting("server")?.ok_or(DeviceError::NotSignedIn)?;
        let token = self.store.setting("token")?.ok_or(DeviceError::NotSignedIn)?;
        let trust = Trust::of(self.store.setting("server_ca")?.as_deref())?;
        Ok(HttpTransport::new(&server, &trust, &token, &self.device_id()?))
    }

    /// Syncs with the server until nothing is left, reporting progress after each round trip.
    /// A revoked device is wiped (the error says so).
    pub fn sync(
        &mut self,
        options: SyncOptions,
        on_progress: &mut dyn FnMut(&SyncProgress),
        cancelled: &dyn Fn() -> bool,
    ) -> Result<SyncReport, DeviceError> {
        sync_in_steps(&Exclusive(RefCell::new(self)), options, on_progress, cancelled)
    }

    /// A photo of a visit: from this device, or fetched from the server (and kept) when online.
    pub fn photo(&mut self, hash: &str) -> Result<Vec<u8>, DeviceError> {
        photo_in_steps(&Exclusive(RefCell::new(self)), hash)
    }
}

/// Signs in (see [`Device::login`]); the device is borrowed to read and to keep, not while the
/// server is asked.
pub fn login_in_steps(
    device: &impl DeviceAccess,
    server: &str,
    ca_pem: Option<&str>,
    username: &str,
    password: &str,
) -> Result<(), DeviceError> {
    let trust = Trust::of(ca_pem)?;
    let previous_session = {
        let mut device = device.borrow()?;
        let store = device.store();
        let someone_else = store.user().is_some() && store.setting("username")?.as_deref() != Some(username);
        // Their token, to end their session on the server (absent if it is gone already).
        if someone_else { Some(device.transport().ok()) } else { None }
    };
    if let Some(transport) = previous_session {
        // Freed on the server while this tablet still holds a valid token; if it does not
        // (expired, revoked), a supervisor releases the device instead.
        if let Some(transport) = transport {
            let _ = transport.logout();
        }
        device.borrow()?.wipe_keeping_id()?;
    }
    let (device_id, actor) = {
        let mut device = device.borrow()?;
        (device.device_id()?, device.store().actor().to_hex_string())
    };
    let session = transport::login(server, &trust, username, password, &device_id, &actor)?;
    let role = match session.user.role.as_str() {
        "manager" => Role::Manager,
        "supervisor" | "admin" => Role::Supervisor,
        _ => return Err(DeviceError::UnknownRole),
    };
    let mut device = device.borrow()?;
    if device.store().actor().to_hex_string() != actor {
        // The store was wiped meanwhile (a sign-out on another thread): the session the server
        // gave is for an actor this store no longer writes as.
        return Err(DeviceError::NotSignedIn);
    }
    let store = device.store();
    store.sign_in(User { id: session.user.id.clone(), name: session.user.display_name.clone(), role })?;
    store.set_setting("server", server)?;
    store.set_setting("server_ca", ca_pem.unwrap_or_default())?;
    store.set_setting("token", &session.token)?;
    store.set_setting("username", username)?;
    Ok(())
}

/// Signs out (see [`Device::logout`]); the device is not borrowed while the server is told.
pub fn logout_in_steps(device: &impl DeviceAccess) -> Result<(), DeviceError> {
    let transport = device.borrow()?.transport()?;
    transport.logout()?;
    device.borrow()?.wipe_keeping_id()
}

/// A photo of a visit: from the device, or fetched from the server (and kept) when online. The
/// device is borrowed to look and to keep, not while the photo downloads.
pub fn photo_in_steps(device: &impl DeviceAccess, hash: &str) -> Result<Vec<u8>, DeviceError> {
    let transport = {
        let mut device = device.borrow()?;
        if let Some(bytes) = device.store().photo(hash)? {
            return Ok(bytes);
        }
        device.transport()?
    };
    let bytes = transport.fetch_photo(hash)?;
    device.borrow()?.store().keep_fetched_photo(hash, &bytes)?;
    Ok(bytes)
}

/// A device borrowed for one step of a sync at a time: exclusively (the CLI, tests), or from the
/// lock of the apps' object, which other threads take between steps (lists stay readable and
/// forms writable while a sync waits on the network).
pub trait DeviceAccess {
    type Guard<'a>: DerefMut<Target = Device>
    where
        Self: 'a;

    /// The device for one step; [`DeviceError::Closed`] when it was closed meanwhile.
    fn borrow(&self) -> Result<Self::Guard<'_>, DeviceError>;
}

/// A device held exclusively, lent step by step.
struct Exclusive<'d>(RefCell<&'d mut Device>);

impl DeviceAccess for Exclusive<'_> {
    type Guard<'a>
        = RefMut<'a, Device>
    where
        Self: 'a;

    fn borrow(&self) -> Result<RefMut<'_, Device>, DeviceError> {
        Ok(RefMut::map(self.0.borrow_mut(), |d| &mut **d))
    }
}

/// Syncs until nothing is left: documents first, then photos, then the catalog's brochures. The device is borrowed around each
/// step (preparing a request, applying a reply, reading or marking a photo) and never while a
/// request is on the network. A revoked device is wiped (the error says so).
pub fn sync_in_steps(
    device: &impl DeviceAccess,
    options: SyncOptions,
    on_progress: &mut dyn FnMut(&SyncProgress),
    cancelled: &dyn Fn() -> bool,
) -> Result<SyncReport, DeviceError> {
    let mut transport = device.borrow()?.transport()?;
    let mut progress = run_in_steps(&StoresOf(device), &mut transport, options, on_progress, cancelled)?;
    // Photos after documents: the visits are what the branch needs first.
    let queued = device.borrow()?.store().photos_to_upload()?;
    for hash in queued {
        if cancelled() {
            return Err(SyncError::Cancelled.into());
        }
        let Some(bytes) = device.borrow()?.store().photo(&hash)? else { continue };
        match transport.upload_photo(&hash, &bytes) {
            Ok(sent) => {
                progress.bytes_sent += sent;
                device.borrow()?.store().mark_photo_uploaded(&hash)?;
                progress.photos_uploaded += 1;
            }
            // A network failure ends this sync; the upload resumes next time.
            Err(e @ (HttpError::Network(_) | HttpError::Certificate(_))) => return Err(e.into()),
            // The server refused this photo: it stays queued, the others still go up.
            Err(_) => progress.photos_failed += 1,
        }
        on_progress(&progress);
    }
    // The catalog's brochures, kept for offline use; one the server no longer serves is tried
    // again next time.
    let brochures = device.borrow()?.store().brochures_to_fetch()?;
    for hash in brochures {
        if cancelled() {
            return Err(SyncError::Cancelled.into());
        }
        match transport.fetch_brochure(&hash) {
            Ok(bytes) => {
                progress.bytes_received += bytes.len() as u64;
                // Bytes that do not match their hash are not kept.
                let _ = device.borrow()?.store().keep_brochure(&hash, &bytes);
            }
            Err(e @ (HttpError::Network(_) | HttpError::Certificate(_))) => return Err(e.into()),
            Err(_) => {}
        }
    }
    Ok(progress)
}

/// The store of a device lent step by step, as the sync engine borrows it
/// ([`fieldsync_core::sync::run_in_steps`]).
struct StoresOf<'d, D>(&'d D);

/// A device's guard, narrowed to its store.
struct StoreGuard<G>(G);

impl<G: DerefMut<Target = Device>> std::ops::Deref for StoreGuard<G> {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.0.store
    }
}

impl<G: DerefMut<Target = Device>> DerefMut for StoreGuard<G> {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.0.store
    }
}

impl<D: DeviceAccess> StoreAccess for StoresOf<'_, D> {
    type Guard<'a>
        = StoreGuard<D::Guard<'a>>
    where
        Self: 'a;
    type Error = DeviceError;

    fn store(&self) -> Result<Self::Guard<'_>, DeviceError> {
        Ok(StoreGuard(self.0.borrow()?))
    }
}
