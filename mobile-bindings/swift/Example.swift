// A manager's morning in Swift (iOS), the same as the Kotlin example
// (kotlin/src/main/kotlin/org/fieldsync/example/Morning.kt). Not compiled here: these machines have
// no Swift toolchain; the XCFramework recipe is in ../README.md.
//
// The generated sources (Sources/Fieldsync/) hold two modules' worth of Swift: `Fieldsync` (the
// device object, its records, FieldsyncError) and `FieldsyncCore` (the domain's records and
// enums); compiled into one target, as below, they need no imports between them.

import Foundation

final class ProgressPrinter: SyncListener {
    func onProgress(progress: SyncProgress) {
        print("同步中… \(progress.documentsReceived) 位客户已到, 还剩 \(progress.documentsPending)")
    }
}

func morning(server: String, storePath: String, key: Data) throws {
    // The key comes from the Keychain (kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly).
    let device = try FieldsyncDevice.open(path: storePath, key: key)
    if try device.signedIn() == nil {
        _ = try device.login(server: server, username: "manager1", password: "demo-manager-1")
    }
    let calendar = Calendar.current
    let start = calendar.startOfDay(for: Date())
    let end = calendar.date(byAdding: .day, value: 1, to: start)!
    let settings = SyncSettings(
        todayStartMs: Int64(start.timeIntervalSince1970 * 1000),
        todayEndMs: Int64(end.timeIntervalSince1970 * 1000)
    )
    // Blocking: call it off the main thread (a Task, or a BGProcessingTask at night).
    _ = try device.sync(settings: settings, listener: ProgressPrinter(), cancel: nil)

    let page = try device.customers(query: CustomerQuery(owner: .anyone), pageSize: 20, cursor: nil)
    guard let customer = page.items.first?.customerId else { return }
    let now = Int64(Date().timeIntervalSince1970 * 1000)
    let here = GeoPoint(lat: 30.5928, lng: 114.3055, accuracyM: 12)
    do {
        let visit = try device.startVisit(
            customerId: customer, purpose: .followUp, channel: .inPerson,
            checkIn: CheckPoint(at: now - 45 * 60_000, position: here, provider: .gps)
        )
        try device.checkOut(
            customerId: customer, visitId: visit,
            checkOut: CheckPoint(at: now, position: here, provider: .gps),
            details: VisitDetails(notes: "了解了今年的种植计划", costs: Costs(transportFen: 800))
        )
    } catch let FieldsyncError.InvalidInput(field, reasonZh, _) {
        print("\(field)：\(reasonZh)")
    } catch FieldsyncError.NotAllowed(let reasonZh, _) {
        print(reasonZh)
    }
    do {
        _ = try device.sync(settings: settings, listener: nil, cancel: nil)
    } catch FieldsyncError.Network {
        print("没有信号，回到网点后再同步（拜访已保存在平板上）")
    }
}
