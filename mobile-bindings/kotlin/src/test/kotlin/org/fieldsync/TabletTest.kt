package org.fieldsync

import java.io.File
import java.nio.file.Path
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import org.fieldsync.core.Channel
import org.fieldsync.core.CheckPoint
import org.fieldsync.core.Contact
import org.fieldsync.core.Costs
import org.fieldsync.core.CustomerKind
import org.fieldsync.core.CustomerSource
import org.fieldsync.core.GeoPoint
import org.fieldsync.core.InteractionKind
import org.fieldsync.core.LeadSource
import org.fieldsync.core.LeadStage
import org.fieldsync.core.LocationProvider
import org.fieldsync.core.Product
import org.fieldsync.core.Profile
import org.fieldsync.core.SyncProgress
import org.fieldsync.core.Relation
import org.fieldsync.core.ReminderKind
import org.fieldsync.core.ReviewDecision
import org.fieldsync.core.Role
import org.fieldsync.core.TodayKind
import org.fieldsync.core.VisitDetails
import org.fieldsync.core.VisitPurpose
import org.fieldsync.core.VisitStatus
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir

private const val HOUR = 3_600_000L
private const val NAME = "蒋秀兰"
private const val PHONE = "13812345678"
private val KEY = ByteArray(32) { it.toByte() }

private fun profile(name: String = NAME, phone: String? = PHONE) = Profile(
    kind = CustomerKind.INDIVIDUAL, name = name, phone = phone, village = "韩桥村",
    source = CustomerSource.VISIT, tags = listOf("种植大户"),
)

private fun here(at: Long) = CheckPoint(
    at = at, position = GeoPoint(lat = 30.52, lng = 114.31, accuracyM = 8.0), provider = LocationProvider.GPS,
)

private val everyone = CustomerQuery(owner = OwnerFilter.Anyone)

private fun FieldsyncDevice.allCustomers(query: CustomerQuery = everyone): List<org.fieldsync.core.CustomerSummary> {
    val items = mutableListOf<org.fieldsync.core.CustomerSummary>()
    var cursor: String? = null
    do {
        val page = customers(query, 5u, cursor)
        items += page.items
        cursor = page.next
    } while (cursor != null)
    return items
}

private fun manager(path: Path, key: ByteArray? = KEY, user: String = "manager1", password: String = "demo-manager-1"): FieldsyncDevice {
    val device = FieldsyncDevice.open(path.toString(), key)
    assertEquals(Role.MANAGER, device.login(TestServer.url, user, password).role)
    return device
}

class TabletTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `opening outcomes are distinct exceptions`() {
        val path = dir.resolve("tablet.db")
        val id = FieldsyncDevice.open(path.toString(), KEY).use { it.deviceId() }
        val wrong = assertFailsWith<FieldsyncException.WrongKey> { FieldsyncDevice.open(path.toString(), ByteArray(32)) }
        assertTrue(File(wrong.movedTo).exists() && !path.toFile().exists())
        FieldsyncDevice.open(wrong.movedTo, KEY).use { assertEquals(id, it.deviceId()) }
        val bad = assertFailsWith<FieldsyncException.InvalidInput> {
            FieldsyncDevice.open(dir.resolve("other.db").toString(), ByteArray(5))
        }
        assertEquals("key", bad.field)
        val foreign = dir.resolve("notes.db").toFile().apply { writeText("购物清单：大米、油".repeat(100)) }
        val aside = assertFailsWith<FieldsyncException.StoreMovedAside> { FieldsyncDevice.open(foreign.path, null) }
        assertTrue(File(aside.movedTo).readText().startsWith("购物清单"))
        val closed = FieldsyncDevice.open(dir.resolve("c.db").toString(), null)
        closed.closeStore()
        assertFailsWith<FieldsyncException.Closed> { closed.deviceId() }
    }

    @Test
    fun `a fault inside the library is an exception, not a crash`() {
        FieldsyncDevice.open(dir.resolve("t.db").toString(), null).use { device ->
            assertFailsWith<FieldsyncException.Internal> { device.selfTestFault() }
            assertTrue(device.deviceId().isNotEmpty())
        }
    }

    @Test
    fun `bad input is a typed exception that changes nothing`() {
        manager(dir.resolve("t.db")).use { device ->
            assertFailsWith<FieldsyncException.SignInAgain> {
                FieldsyncDevice.open(dir.resolve("nobody.db").toString(), null).use { it.createCustomer(profile()) }
            }
            val before = device.allCustomers().size
            val e = assertFailsWith<FieldsyncException.InvalidInput> { device.createCustomer(profile(phone = "12345")) }
            assertEquals("profile.phone", e.field)
            assertTrue(e.reasonZh.isNotEmpty() && !e.message.orEmpty().contains("12345"))
            assertFailsWith<FieldsyncException.NotFound> { device.customer360("no-such-customer") }
            assertEquals(before, device.allCustomers().size)
        }
    }

    @Test
    fun `a managers day in an encrypted store, synced with progress`() {
        val path = dir.resolve("tablet.db")
        manager(path).use { device ->
            val reports = mutableListOf<SyncProgress>()
            val first = device.sync(SyncSettings(), object : SyncListener {
                override fun onProgress(progress: SyncProgress) { reports += progress }
            }, null)
            assertTrue(first.documentsReceived >= TestServer.DEMO_CUSTOMERS.toULong())
            assertEquals(first.roundTrips, reports.last().roundTrips)
            assertTrue(device.allCustomers().all { it.phoneMasked?.contains('*') ?: true })

            val customer = device.createCustomer(profile())
            val start = System.currentTimeMillis() - 2 * HOUR
            val visit = device.startVisit(customer, VisitPurpose.MARKETING, Channel.IN_PERSON, here(start))
            assertFailsWith<FieldsyncException.NotAllowed> {
                device.startVisit(customer, VisitPurpose.MARKETING, Channel.IN_PERSON, here(start + 1))
            }
            val photo = device.addPhoto(byteArrayOf(-1, -40, -1, -32) + ByteArray(4096) { (it * 7).toByte() })
            val details = VisitDetails(notes = "家里种了二十亩柑橘", costs = Costs(transportFen = 1500), photos = listOf(photo))
            device.checkOut(customer, visit, here(start + HOUR), details)
            val lead = device.addLead(customer, Product.LOAN, 5_000_000, LeadSource.VISIT, null, null, visit, "")
            device.moveLead(customer, lead, LeadStage.WON, null)
            device.addReminder(customer, ReminderKind.FOLLOW_UP, System.currentTimeMillis() + 24 * HOUR, "回访")
            device.saveContact(customer, Contact(name = "蒋大伟", relation = Relation.SPOUSE))
            device.addInteraction(customer, InteractionKind.COMPLAINT, "排队太久", System.currentTimeMillis(), null)

            val view = device.customer360(customer)
            assertEquals(PHONE, view.profile.phone)
            assertEquals(VisitStatus.COMPLETED, view.visits.single().status)
            assertEquals(LeadStage.WON, view.leads.single().stage)
            assertEquals("已成交", view.leads.single().stage.label())
            assertTrue(device.allCustomers(CustomerQuery(owner = OwnerFilter.Anyone, search = "jxl")).any { it.customerId == customer })

            val pushed = device.sync(SyncSettings(), null, null)
            assertTrue(pushed.changesPushed >= 7uL)
            assertEquals(1uL, pushed.photosUploaded)
        }
        // Nothing personal in the encrypted store's files.
        for (file in dir.toFile().listFiles()!!) {
            val bytes = file.readBytes()
            assertTrue(!bytes.containsSlice(NAME.toByteArray()) && !bytes.containsSlice(PHONE.toByteArray()), file.name)
        }
    }

    @Test
    fun `the branchs rules reach the tablet and the day works offline`() {
        manager(dir.resolve("rules.db")).use { device ->
            assertNull(device.poolRules(), "no rules before the first sync")
            device.sync(SyncSettings(), null, null)
            assertTrue(device.poolRules()!!.warnDays >= 0u)
            val deposit = device.catalog().single { it.id == "dep-3y" }
            assertEquals("三年期整存整取", deposit.name)
            assertTrue(device.brochure(deposit.brochure!!)!!.isNotEmpty())

            val customer = device.createCustomer(profile(name = "邹运兰", phone = "13912345678"))
            val typedAgain = profile(name = "邹运兰", phone = "+86 139-1234-5678")
            assertTrue(device.possibleDuplicates(typedAgain).any { it.customerId == customer })

            val now = System.currentTimeMillis()
            val complaint = device.addInteraction(customer, InteractionKind.COMPLAINT, "柜台排队太久", now, null)
            fun complaints(days: Long) = device.today(now - HOUR, now + days * 24 * HOUR)
                .filter { it.kind == TodayKind.COMPLAINT && it.customerId == customer }.map { it.itemId }
            assertEquals(listOf(complaint), complaints(16))
            assertEquals(emptyList(), complaints(1))
            device.resolveInteraction(customer, complaint, "已致歉并加开窗口")
            assertEquals(emptyList(), complaints(16))
            assertFailsWith<FieldsyncException> { device.resolveInteraction(customer, complaint, "again") }
            assertEquals("已致歉并加开窗口", device.customer360(customer).interactions.single().resolution)
        }
    }

    @Test
    fun `a cancelled first sync resumes`() {
        manager(dir.resolve("t.db")).use { device ->
            val cancel = SyncCancel()
            var heard = 0
            assertFailsWith<FieldsyncException.Cancelled> {
                device.sync(SyncSettings(), object : SyncListener {
                    override fun onProgress(progress: SyncProgress) { heard++; cancel.cancel() }
                }, cancel)
            }
            assertEquals(1, heard)
            val kept = device.allCustomers().size
            assertTrue(kept > 0)
            assertEquals(0uL, device.sync(SyncSettings(), null, null).documentsPending)
            assertTrue(device.allCustomers().size >= maxOf(kept, TestServer.DEMO_CUSTOMERS))
        }
    }

    @Test
    fun `sync on Dispatchers IO while the UI thread reads lists and writes`() = runBlocking {
        manager(dir.resolve("t.db")).use { device ->
            val paused = CountDownLatch(1)
            val resume = CountDownLatch(1)
            var resumedInTime = false
            val sync = async(Dispatchers.IO) {
                device.sync(SyncSettings(), object : SyncListener {
                    override fun onProgress(progress: SyncProgress) {
                        if (paused.count > 0) {
                            paused.countDown()
                            resumedInTime = resume.await(30, TimeUnit.SECONDS)
                        }
                    }
                }, null)
            }
            assertTrue(paused.await(60, TimeUnit.SECONDS), "the first round trip never finished")
            // On this (UI) thread, while the sync waits between round trips.
            assertTrue(device.customers(everyone, 20u, null).items.isNotEmpty())
            val written = device.createCustomer(profile(name = "同步中新建", phone = null))
            resume.countDown()
            sync.await()
            assertTrue(resumedInTime, "the sync held the store while waiting")
            device.sync(SyncSettings(), null, null)
            assertEquals("同步中新建", device.customer360(written).profile.name)
            assertTrue(device.refusedChanges().isEmpty())
        }
    }

    @Test
    fun `a supervisors review reaches the tablet`() {
        manager(dir.resolve("t.db")).use { device ->
            device.sync(SyncSettings(), null, null)
            val customer = device.createCustomer(profile(name = "审核客户", phone = null))
            val start = System.currentTimeMillis() - 3 * HOUR
            val visit = device.recordVisit(
                customer, VisitPurpose.MARKETING, Channel.IN_PERSON, here(start), here(start + HOUR), VisitDetails(notes = "走访"),
            )
            device.sync(SyncSettings(), null, null)
            val token = TestServer.login("supervisor", "demo-supervisor", "supervisor-pc-kotlin")
            val (status, _) = TestServer.call(
                "/api/v1/customers/$customer/reviews/$visit", token, "supervisor-pc-kotlin",
                """{"decision":"returned","comment":"请补充照片"}""",
            )
            assertEquals(204, status)
            device.sync(SyncSettings(), null, null)
            val review = device.customer360(customer).reviews.single()
            assertEquals(visit, review.visitId)
            assertEquals(ReviewDecision.RETURNED, review.review.decision)
        }
    }

    @Test
    fun `the morning example reaches a synced visit`() {
        val result = org.fieldsync.example.morning(TestServer.url, "manager1", "demo-manager-1", dir.resolve("m.db").toString())
        assertTrue(result.customersOnTablet >= TestServer.DEMO_CUSTOMERS)
        assertTrue(result.changesPushed >= 2uL, "the visit's check-in and check-out went up: $result")
    }

    @Test
    fun `a revoked tablet is wiped, nothing of its customers left in its files`() {
        // Without encryption, so the files can be searched for what the tablet held.
        val path = dir.resolve("t.db")
        val held = manager(path, key = null, user = "manager2", password = "demo-manager-2").use { device ->
            device.sync(SyncSettings(), null, null)
            val held = device.allCustomers().map { it.name }
            assertTrue(held.isNotEmpty())
            TestServer.admin("revoke-device", "--device", device.deviceId())
            assertFailsWith<FieldsyncException.DeviceRevoked> { device.sync(SyncSettings(), null, null) }
            assertNull(device.signedIn())
            assertTrue(device.allCustomers().isEmpty())
            held
        }
        FieldsyncDevice.open(path.toString(), null).use { assertTrue(it.allCustomers().isEmpty()) }
        for (file in dir.toFile().listFiles()!!) {
            val bytes = file.readBytes()
            for (name in held) assertTrue(!bytes.containsSlice(name.toByteArray()), "$name left in ${file.name}")
        }
    }
}

private fun ByteArray.containsSlice(needle: ByteArray): Boolean =
    (0..size - needle.size).any { i -> needle.indices.all { this[i + it] == needle[it] } }
