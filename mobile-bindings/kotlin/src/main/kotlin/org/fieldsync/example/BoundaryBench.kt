// The same calls as `cargo bench -p fieldsync-ffi --bench boundary`, through the Kotlin bindings
// on the JVM (JNA): a list of 50 customers and a visit write, on the store of 500 customers that
// the Rust bench leaves in target/boundary-fixture/. Compare with the Rust bench's figures.
//
//   cargo bench -p fieldsync-ffi --bench boundary
//   cd mobile-bindings/kotlin && mvn -q compile exec:java \
//     -Dexec.mainClass=org.fieldsync.example.BoundaryBenchKt -Dfieldsync.lib.dir=../../target/release
package org.fieldsync.example

import java.io.File
import org.fieldsync.CustomerQuery
import org.fieldsync.FieldsyncDevice
import org.fieldsync.OwnerFilter
import org.fieldsync.core.VisitDetails

private const val ROUNDS = 7

/** Median, min and max of the per-call time in µs over [ROUNDS] rounds of `calls` calls. */
private fun timed(calls: Int, call: () -> Unit): Triple<Double, Double, Double> {
    repeat(calls) { call() } // warm-up: JIT and caches
    val perCall = (1..ROUNDS).map {
        val start = System.nanoTime()
        repeat(calls) { call() }
        (System.nanoTime() - start) / 1000.0 / calls
    }.sorted()
    return Triple(perCall[ROUNDS / 2], perCall.first(), perCall.last())
}

fun main() {
    val path = System.getProperty("fieldsync.store") ?: "../../target/boundary-fixture/tablet.db"
    require(File(path).exists()) { "no fixture at $path: run `cargo bench -p fieldsync-ffi --bench boundary` first" }
    FieldsyncDevice.open(path, null).use { device ->
        val query = CustomerQuery(owner = OwnerFilter.Anyone)
        val page = device.customers(query, 50u, null)
        check(page.items.size == 50)
        val customer = page.items.first().customerId
        val visit = device.customer360(customer).visits.first().id
        var n = 0
        val runs = listOf(
            Triple("list 50 customers through the Kotlin bindings (JNA)", 500) { device.customers(query, 50u, null); Unit },
            Triple("visit write through the Kotlin bindings (JNA)", 50) {
                n++
                device.updateVisit(customer, visit, VisitDetails(notes = "第${n}次修改"))
                Unit
            },
        )
        for ((label, calls, call) in runs) {
            val (median, low, high) = timed(calls, call)
            println("%s: median %.1f µs per call (%.1f–%.1f over %d rounds of %d)".format(label, median, low, high, ROUNDS, calls))
        }
    }
}
