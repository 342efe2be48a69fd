// A manager's morning, as an Android app would do it (minus the UI): sign in, sync, look at
// today's plan, visit a customer, sync the visit back.
//
//   cargo run --release -p fieldsync-server -- serve --demo          # in another terminal
//   scripts/bindings.sh && cd mobile-bindings/kotlin
//   mvn -q compile exec:java -Dfieldsync.url=http://127.0.0.1:8080
package org.fieldsync.example

import java.nio.file.Files
import java.time.LocalDate
import java.time.ZoneId
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import org.fieldsync.CustomerQuery
import org.fieldsync.FieldsyncDevice
import org.fieldsync.FieldsyncException
import org.fieldsync.OwnerFilter
import org.fieldsync.SyncListener
import org.fieldsync.SyncSettings
import org.fieldsync.core.Channel
import org.fieldsync.core.CheckPoint
import org.fieldsync.core.Costs
import org.fieldsync.core.GeoPoint
import org.fieldsync.core.LocationProvider
import org.fieldsync.core.SyncProgress
import org.fieldsync.core.VisitDetails
import org.fieldsync.core.VisitPurpose

/** What the morning did, for whoever runs it. */
data class Morning(val customersOnTablet: Int, val plannedToday: Int, val visitId: String, val changesPushed: ULong)

/**
 * Runs the morning against `server` with a store at `storePath`. The store key would come from
 * the Android Keystore; here it is fixed.
 */
fun morning(server: String, username: String, password: String, storePath: String): Morning = runBlocking {
    val key = ByteArray(32) { (it * 31 + 7).toByte() }
    FieldsyncDevice.open(storePath, key).use { device ->
        if (device.signedIn() == null) {
            device.login(server, username, password)
        }
        val zone = ZoneId.systemDefault()
        val today = LocalDate.now(zone)
        val settings = SyncSettings(
            todayStartMs = today.atStartOfDay(zone).toInstant().toEpochMilli(),
            todayEndMs = today.plusDays(1).atStartOfDay(zone).toInstant().toEpochMilli(),
        )
        // Sync off the main thread, as an app does (Dispatchers.IO), with progress for the UI.
        val progress = object : SyncListener {
            override fun onProgress(progress: SyncProgress) =
                println("同步中… ${progress.documentsReceived} 位客户已到, 还剩 ${progress.documentsPending}")
        }
        withContext(Dispatchers.IO) { device.sync(settings, progress, null) }
        device.checkReceived(1000u)

        val plan = device.todaysPlan(settings.todayStartMs!!, settings.todayEndMs!!)
        println("今日计划 ${plan.size} 次拜访")
        val customer = plan.firstOrNull()?.customerId
            ?: device.customers(CustomerQuery(owner = OwnerFilter.Anyone), 1u, null).items.first().customerId
        val name = device.customer360(customer).profile.name

        // At the customer's door: check in, talk, check out.
        val now = System.currentTimeMillis()
        val here = GeoPoint(lat = 30.5928, lng = 114.3055, accuracyM = 12.0)
        val visit = device.startVisit(
            customer, VisitPurpose.FOLLOW_UP, Channel.IN_PERSON,
            CheckPoint(at = now - 45 * 60_000, position = here, provider = LocationProvider.GPS),
        )
        device.checkOut(
            customer, visit, CheckPoint(at = now, position = here, provider = LocationProvider.GPS),
            VisitDetails(notes = "了解了今年的种植计划", costs = Costs(transportFen = 800)),
        )
        println("已拜访 $name")

        val pushed = try {
            withContext(Dispatchers.IO) { device.sync(settings, null, null) }
        } catch (e: FieldsyncException.Network) {
            println("没有信号，回到网点后再同步（拜访已保存在平板上）")
            null
        }
        val onTablet = device.customers(CustomerQuery(owner = OwnerFilter.Anyone), 500u, null).items.size
        Morning(onTablet, plan.size, visit, pushed?.changesPushed ?: 0uL)
    }
}

fun main() {
    val server = System.getProperty("fieldsync.url", "http://127.0.0.1:8080")
    val user = System.getProperty("fieldsync.user", "manager1")
    val password = System.getProperty("fieldsync.password", "demo-manager-1")
    val store = System.getProperty("fieldsync.store")
        ?: Files.createTempDirectory("fieldsync-morning").resolve("tablet.db").toString()
    val result = morning(server, user, password, store)
    println("完成: $result")
}
