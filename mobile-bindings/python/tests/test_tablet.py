"""A manager's tablet driven through the generated Python bindings against a real server.

Each test opens its own store; the session's server holds the demo branch (see conftest.py)."""

import os
import threading
import time

import pytest

import fieldsync as fs
from conftest import DEMO_CUSTOMERS, KEY

HOUR = 3_600_000
NAME = "蒋秀兰"
PHONE = "13812345678"


def now_ms():
    return int(time.time() * 1000)


def profile(name=NAME, phone=PHONE, village="韩桥村"):
    return fs.Profile(
        kind=fs.CustomerKind.INDIVIDUAL,
        name=name,
        phone=phone,
        village=village,
        source=fs.CustomerSource.VISIT,
        tags=["种植大户"],
    )


def here(at, mock=False):
    return fs.CheckPoint(
        at=at,
        position=fs.GeoPoint(lat=30.52, lng=114.31, accuracy_m=8.0),
        provider=fs.LocationProvider.GPS,
        mock_location=mock,
    )


def details(notes, photos=()):
    return fs.VisitDetails(notes=notes, costs=fs.Costs(transport_fen=1500), photos=list(photos))


class Recorder(fs.SyncListener):
    """Keeps every progress report; optionally cancels after the first."""

    def __init__(self, cancel_after=None):
        self.reports = []
        self.cancel_after = cancel_after

    def on_progress(self, progress):
        self.reports.append(progress)
        if self.cancel_after is not None and len(self.reports) >= 1:
            self.cancel_after.cancel()


def signed_in_manager(server, path, key=KEY, user="manager1", password="demo-manager-1"):
    device = fs.FieldsyncDevice.open(path, key)
    who = device.login(server.url, user, password)
    assert who.role == fs.Role.MANAGER
    return device


def all_customers(device, query=None):
    query = query or fs.CustomerQuery(owner=fs.OwnerFilter.ANYONE())
    items, cursor = [], None
    while True:
        page = device.customers(query, 5, cursor)
        items.extend(page.items)
        if page.next is None:
            return items
        cursor = page.next


# ---- opening the store -----------------------------------------------------------------------


def test_opening_outcomes_are_distinct_errors(tmp_path):
    path = str(tmp_path / "tablet.db")
    device = fs.FieldsyncDevice.open(path, KEY)
    device_id = device.device_id()
    assert len(device_id) == 36
    device.close_store()
    with pytest.raises(fs.FieldsyncError.Closed):
        device.device_id()

    # The same key opens it again, with the same device ID.
    again = fs.FieldsyncDevice.open(path, KEY)
    assert again.device_id() == device_id
    again.close_store()

    # Another key: told apart, the file moved aside (not deleted), and the right key opens it there.
    with pytest.raises(fs.FieldsyncError.WrongKey) as wrong:
        fs.FieldsyncDevice.open(path, bytes(32))
    moved_to = wrong.value.moved_to
    assert os.path.exists(moved_to) and not os.path.exists(path)
    assert fs.FieldsyncDevice.open(moved_to, KEY).device_id() == device_id

    # A key that is not 32 bytes is bad input, naming the field.
    with pytest.raises(fs.FieldsyncError.InvalidInput) as bad:
        fs.FieldsyncDevice.open(str(tmp_path / "other.db"), b"short")
    assert bad.value.field == "key" and bad.value.reason_zh and bad.value.reason_en

    # A foreign file is moved aside with its new path.
    foreign = tmp_path / "notes.db"
    foreign.write_text("购物清单：大米、油" * 100, encoding="utf-8")
    with pytest.raises(fs.FieldsyncError.StoreMovedAside) as aside:
        fs.FieldsyncDevice.open(str(foreign), None)
    assert open(aside.value.moved_to, encoding="utf-8").read().startswith("购物清单")


def test_a_fault_inside_the_library_is_an_error_not_a_crash(store_path):
    device = fs.FieldsyncDevice.open(store_path, None)
    with pytest.raises(fs.FieldsyncError.Internal):
        device.self_test_fault()
    # The device still works afterwards.
    assert device.device_id()


def test_nothing_readable_in_an_encrypted_stores_files(server, tmp_path):
    path = str(tmp_path / "tablet.db")
    device = signed_in_manager(server, path)
    device.create_customer(profile())
    device.close_store()
    for name in os.listdir(tmp_path):
        data = (tmp_path / name).read_bytes()
        assert NAME.encode() not in data, name
        assert PHONE.encode() not in data, name


# ---- a day of work offline, then sync --------------------------------------------------------


def test_writes_without_sign_in_ask_for_it(store_path):
    device = fs.FieldsyncDevice.open(store_path, None)
    assert device.signed_in() is None
    with pytest.raises(fs.FieldsyncError.SignInAgain):
        device.create_customer(profile())


def test_bad_input_is_a_typed_error_that_changes_nothing(server, store_path):
    device = signed_in_manager(server, store_path)
    before = len(all_customers(device))
    with pytest.raises(fs.FieldsyncError.InvalidInput) as bad:
        device.create_customer(profile(phone="12345"))
    assert bad.value.field == "profile.phone"
    assert PHONE not in str(bad.value) and "12345" not in str(bad.value)
    with pytest.raises(fs.FieldsyncError.InvalidInput) as bad:
        device.create_customer(profile(name=""))
    assert bad.value.field == "profile.name"
    customer = device.create_customer(profile())
    with pytest.raises(fs.FieldsyncError.InvalidInput):
        device.start_visit(customer, fs.VisitPurpose.MARKETING, fs.Channel.IN_PERSON, fs.CheckPoint(
            at=now_ms(), position=fs.GeoPoint(lat=0.0, lng=0.0, accuracy_m=5.0),
            provider=fs.LocationProvider.GPS, mock_location=False))
    with pytest.raises(fs.FieldsyncError.NotFound):
        device.customer_360("no-such-customer")
    assert len(all_customers(device)) == before + 1
    assert device.customer_360(customer).visits == []


def test_a_managers_day_offline_then_synced(server, store_path):
    device = signed_in_manager(server, store_path)
    recorder = Recorder()
    first = device.sync(fs.SyncSettings(), recorder, None)
    assert first.documents_received >= DEMO_CUSTOMERS
    assert recorder.reports and recorder.reports[-1].round_trips == first.round_trips
    # Lists are masked; the 360 view is whole.
    listed = all_customers(device)
    assert len(listed) >= DEMO_CUSTOMERS
    for summary in listed:
        if summary.phone_masked:
            assert "*" in summary.phone_masked
    device.check_received(1000)

    # The day: a new customer, an unplanned visit with a photo, a lead moved to won, a reminder,
    # a contact and a complaint.
    customer = device.create_customer(profile())
    start = now_ms() - 2 * HOUR
    visit = device.start_visit(customer, fs.VisitPurpose.MARKETING, fs.Channel.IN_PERSON, here(start))
    with pytest.raises(fs.FieldsyncError.NotAllowed) as busy:
        device.start_visit(customer, fs.VisitPurpose.MARKETING, fs.Channel.IN_PERSON, here(start + 1))
    assert busy.value.reason_zh
    photo = device.add_photo(b"\xff\xd8\xff\xe0" + os.urandom(4096))
    device.check_out(customer, visit, here(start + HOUR), details("家里种了二十亩柑橘", [photo]))
    lead = device.add_lead(customer, fs.Product.LOAN, 5_000_000, fs.LeadSource.VISIT, None, None, visit, "")
    device.move_lead(customer, lead, fs.LeadStage.WON, None)
    device.add_reminder(customer, fs.ReminderKind.FOLLOW_UP, now_ms() + 24 * HOUR, "回访")
    contact = device.save_contact(customer, fs.Contact(name="蒋大伟", relation=fs.Relation.SPOUSE))
    device.add_interaction(customer, fs.InteractionKind.COMPLAINT, "排队太久", now_ms(), None)

    view = device.customer_360(customer)
    assert view.profile.name == NAME and view.profile.phone == PHONE
    assert view.leads[0].stage.label() == "已成交" and view.kind.label() == "个人"
    assert view.owner_id == device.signed_in().user_id
    assert [v.id for v in view.visits] == [visit]
    assert view.visits[0].status == fs.VisitStatus.COMPLETED
    assert view.visits[0].photos == [photo]
    assert view.leads[0].stage == fs.LeadStage.WON
    assert [c.id for c in view.contacts] == [contact]
    assert view.interactions[0].kind == fs.InteractionKind.COMPLAINT
    found = all_customers(device, fs.CustomerQuery(owner=fs.OwnerFilter.ANYONE(), search="jxl"))
    assert customer in [c.customer_id for c in found]
    assert any(stage.stage == fs.LeadStage.WON and stage.count >= 1 for stage in device.funnel())

    pushed = device.sync(fs.SyncSettings(), None, None)
    assert pushed.changes_pushed >= 7
    assert pushed.photos_uploaded == 1

    # A second tablet of the same manager receives all of it.
    other = signed_in_manager(server, store_path + ".other", key=None)
    other.sync(fs.SyncSettings(), None, None)
    received = other.customer_360(customer)
    assert received.visits[0].notes == "家里种了二十亩柑橘"
    assert other.photo(photo)[:4] == b"\xff\xd8\xff\xe0"


def test_a_cancelled_sync_resumes_where_it_stopped(server, store_path):
    device = signed_in_manager(server, store_path)
    cancel = fs.SyncCancel()
    recorder = Recorder(cancel_after=cancel)
    with pytest.raises(fs.FieldsyncError.Cancelled):
        device.sync(fs.SyncSettings(), recorder, cancel)
    assert len(recorder.reports) == 1
    kept = len(all_customers(device))
    assert kept > 0
    resumed = device.sync(fs.SyncSettings(), None, None)
    assert resumed.documents_pending == 0
    assert len(all_customers(device)) >= max(kept, DEMO_CUSTOMERS)


class Pausing(fs.SyncListener):
    """Holds the sync after its first round trip until the test has read and written."""

    def __init__(self):
        self.paused = threading.Event()
        self.resume = threading.Event()
        self.resumed_in_time = None

    def on_progress(self, progress):
        if not self.paused.is_set():
            self.paused.set()
            self.resumed_in_time = self.resume.wait(30)


def test_lists_stay_readable_and_forms_writable_while_a_sync_runs(server, store_path):
    device = signed_in_manager(server, store_path)
    listener = Pausing()
    outcome = {}

    def sync():
        try:
            outcome["report"] = device.sync(fs.SyncSettings(), listener, None)
        except fs.FieldsyncError as e:
            outcome["error"] = e

    worker = threading.Thread(target=sync)
    worker.start()
    assert listener.paused.wait(60), "the first round trip never finished"
    # The sync is between round trips, on its thread: the tablet answers meanwhile.
    assert worker.is_alive()
    assert device.customers(fs.CustomerQuery(owner=fs.OwnerFilter.ANYONE()), 20, None).items
    written = device.create_customer(profile(name="同步中新建", phone=None))
    listener.resume.set()
    worker.join(60)
    assert listener.resumed_in_time, "the sync held the store while waiting"
    assert "error" not in outcome, outcome.get("error")
    # What was written mid-sync is pushed (by this sync or the next) and kept.
    device.sync(fs.SyncSettings(), None, None)
    assert device.customer_360(written).profile.name == "同步中新建"
    assert not device.refused_changes()


def test_a_supervisors_review_reaches_the_tablet(server, store_path):
    device = signed_in_manager(server, store_path)
    device.sync(fs.SyncSettings(), None, None)
    customer = device.create_customer(profile(name="审核客户", phone=None))
    start = now_ms() - 3 * HOUR
    visit = device.record_visit(
        customer, fs.VisitPurpose.MARKETING, fs.Channel.IN_PERSON, here(start), here(start + HOUR), details("走访")
    )
    device.sync(fs.SyncSettings(), None, None)
    token = server.login("supervisor", "demo-supervisor", "supervisor-pc")
    status, _ = server.post_json(
        f"/api/v1/customers/{customer}/reviews/{visit}",
        token,
        "supervisor-pc",
        {"decision": "returned", "comment": "请补充照片"},
    )
    assert status == 204
    device.sync(fs.SyncSettings(), None, None)
    reviews = device.customer_360(customer).reviews
    assert [r.visit_id for r in reviews] == [visit]
    assert reviews[0].review.decision == fs.ReviewDecision.RETURNED
    assert reviews[0].review.comment == "请补充照片"


def test_a_revoked_tablet_is_wiped(server, tmp_path):
    # Without encryption, so the files can be searched for what the tablet held.
    path = str(tmp_path / "tablet.db")
    device = signed_in_manager(server, path, key=None, user="manager2", password="demo-manager-2")
    device.sync(fs.SyncSettings(), None, None)
    held = [c.name for c in all_customers(device)]
    assert held
    assert any(name.encode() in (tmp_path / f).read_bytes() for f in os.listdir(tmp_path) for name in held)
    server.admin("revoke-device", "--device", device.device_id())
    with pytest.raises(fs.FieldsyncError.DeviceRevoked):
        device.sync(fs.SyncSettings(), None, None)
    assert device.signed_in() is None
    assert all_customers(device) == []
    device.close_store()
    assert all_customers_of_file(path) == []
    # Nothing of its customers is left in the tablet's files.
    for name in os.listdir(tmp_path):
        data = (tmp_path / name).read_bytes()
        for customer in held:
            assert customer.encode() not in data, f"{customer} left in {name}"


def all_customers_of_file(path, key=None):
    device = fs.FieldsyncDevice.open(path, key)
    try:
        return all_customers(device)
    finally:
        device.close_store()


def test_the_branchs_rules_and_the_day_work_offline(server, store_path):
    """What the branch decides reaches the tablet with a sync and works offline: the pool's rules
    and countdown, the product catalog with its brochure, the day's list, the duplicate check."""
    device = signed_in_manager(server, store_path)
    device.sync(fs.SyncSettings(), None, None)
    rules = device.pool_rules()
    assert rules is not None and rules.warn_days >= 0
    assert isinstance(device.recycle_warnings(), list)

    catalog = {p.id: p for p in device.catalog()}
    assert catalog["dep-3y"].name == "三年期整存整取" and catalog["dep-3y"].rate_bp == 175
    brochure = device.brochure(catalog["dep-3y"].brochure)
    assert brochure is not None and "三年期".encode() in brochure

    # The demo plans three visits for today on this manager's tablet.
    day_start = now_ms() - 24 * HOUR
    items = device.today(day_start, now_ms() + 24 * HOUR)
    assert any(i.kind == fs.TodayKind.VISIT for i in items)

    # A new customer with a phone already on the tablet, typed another way, is flagged.
    first = device.create_customer(profile(name="蒋秀兰", phone="13812345678"))
    again = fs.Profile(
        kind=fs.CustomerKind.INDIVIDUAL, name="蒋秀兰", phone="+86 138-1234-5678", village="张坪村",
        source=fs.CustomerSource.VISIT,
    )
    flagged = device.possible_duplicates(again)
    assert first in [d.customer_id for d in flagged]
    assert all("*" in (d.phone_masked or "*") for d in flagged)
    # A lead for a catalog product.
    lead = device.add_lead(first, fs.Product.DEPOSIT, 1_000_000, fs.LeadSource.VISIT, None, None, None, "", "dep-3y")
    assert device.customer_360(first).leads[0].catalog_id == "dep-3y"
    assert lead

    # A complaint starts its clock (the branch's limit: the regulator's 15 days by default) and
    # is on the day's list when due; handled, it leaves it and the customer's file says how.
    complaint = device.add_interaction(first, fs.InteractionKind.COMPLAINT, "柜台排队太久", now_ms(), None)
    def complaints(days):
        items = device.today(day_start, now_ms() + days * 24 * HOUR)
        return [i.item_id for i in items if i.kind == fs.TodayKind.COMPLAINT and i.customer_id == first]

    assert complaints(16) == [complaint]
    assert complaints(1) == []
    device.resolve_interaction(first, complaint, "已致歉并加开窗口")
    assert complaints(16) == []
    handled = device.customer_360(first).interactions[0]
    assert handled.resolution == "已致歉并加开窗口" and handled.resolved_at is not None
    with pytest.raises(fs.FieldsyncError):
        device.resolve_interaction(first, complaint, "again")
