//! The `fieldsync-device` binary driven as a person or a script would, offline (no server).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use fieldsync_core::domain::{CustomerKind, Profile};
use fieldsync_core::store::Store;
use serde_json::Value;

const PHONE: &str = "13812345678";

/// Runs the device CLI on `store` with `--json`, with no FIELDSYNC_* settings from the environment.
fn device(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fieldsync-device"))
        .arg("--store")
        .arg(store)
        .arg("--json")
        .args(args)
        .env_remove("FIELDSYNC_STORE")
        .env_remove("FIELDSYNC_KEY")
        .env_remove("FIELDSYNC_PASSWORD")
        .output()
        .expect("the fieldsync-device binary runs")
}

/// Runs a command that must succeed and returns its JSON object.
fn ok(store: &Path, args: &[&str]) -> Value {
    let out = device(store, args);
    assert!(
        out.status.success(),
        "{args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

/// Runs a command that must fail; returns its exit code and everything it printed.
fn fails(store: &Path, args: &[&str]) -> (i32, String, Value) {
    let out = device(store, args);
    assert!(!out.status.success(), "{args:?} should have failed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let printed = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().expect("an exit code"), printed, json)
}

fn signed_in_store(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let store = dir.path().join("device.db");
    let user = ok(&store, &["sign-in-offline", "--user-id", "m1", "--name", "王建国"]);
    assert_eq!(user["role"], "manager");
    store
}

#[test]
fn a_visit_and_a_lead_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = signed_in_store(&dir);

    let created = ok(&store, &["add-customer", "--name", "杨桂敏", "--village", "韩桥村", "--phone", PHONE]);
    let customer = created["customer_id"].as_str().unwrap().to_string();
    ok(&store, &["add-customer", "--name", "张三", "--village", "柳河村", "--kind", "household"]);

    // Lists show the phone masked, never whole.
    let listed = ok(&store, &["list", "--village", "韩桥村"]);
    let rows = listed["customers"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["customer_id"], customer.as_str());
    assert_eq!(rows[0]["phone_masked"], "138****5678");
    assert!(!listed.to_string().contains(PHONE));
    assert_eq!(ok(&store, &["list"])["customers"].as_array().unwrap().len(), 2);
    assert_eq!(ok(&store, &["list", "--search", "5678"])["customers"][0]["customer_id"], customer.as_str());

    // The human list: one customer per line, masked.
    let out = Command::new(env!("CARGO_BIN_EXE_fieldsync-device"))
        .args(["list", "--village", "韩桥村", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert!(text.contains(&format!("{customer}\t杨桂敏\t韩桥村\t138****5678")), "{text}");

    // Without --json, a command that creates something prints the new ID alone on stdout (the
    // message goes to stderr), so a shell can capture it.
    let out = Command::new(env!("CARGO_BIN_EXE_fieldsync-device"))
        .args(["add-customer", "--name", "李四", "--village", "韩桥村", "--store"])
        .arg(&store)
        .output()
        .unwrap();
    assert!(out.status.success());
    let id = String::from_utf8(out.stdout).unwrap();
    assert_eq!(id.trim().len(), 36, "{id:?}");
    assert!(String::from_utf8(out.stderr).unwrap().contains("customer created"));
    assert!(!text.contains(PHONE));

    let started = ok(
        &store,
        &["visit", "start", "--customer", &customer, "--lat", "31.68", "--lng", "105.42", "--purpose", "care"],
    );
    let visit = started["visit_id"].as_str().unwrap().to_string();
    // One visit in progress at a time.
    let (code, printed, _) =
        fails(&store, &["visit", "start", "--customer", &customer, "--lat", "31.68", "--lng", "105.42"]);
    assert_eq!(code, 2);
    assert!(printed.contains(&visit), "{printed}");

    ok(
        &store,
        &[
            "visit",
            "finish",
            "--customer",
            &customer,
            "--visit",
            &visit,
            "--lat",
            "31.681",
            "--lng",
            "105.421",
            "--notes",
            "有贷款需求",
            "--cost-fen",
            "1200",
            "--next-contact-days",
            "7",
        ],
    );
    let lead = ok(
        &store,
        &[
            "lead",
            "add",
            "--customer",
            &customer,
            "--product",
            "loan",
            "--amount-fen",
            "5000000",
            "--expected-close-days",
            "30",
        ],
    );
    let lead_id = lead["lead_id"].as_str().unwrap();

    let view = ok(&store, &["show", "--customer", &customer]);
    assert_eq!(view["profile"]["name"], "杨桂敏");
    assert_eq!(view["profile"]["phone"], PHONE, "the 360 view shows the whole number");
    let visits = view["visits"].as_array().unwrap();
    assert_eq!(visits.len(), 1);
    assert_eq!(visits[0]["visit_id"], visit.as_str());
    assert_eq!(visits[0]["status"], "completed");
    assert_eq!(visits[0]["purpose"], "care");
    assert_eq!(visits[0]["notes"], "有贷款需求");
    assert_eq!(visits[0]["costs_fen"], 1200);
    assert!(visits[0]["next_contact_at"].as_i64().unwrap() > visits[0]["check_out"]["at"].as_i64().unwrap());
    assert_eq!(visits[0]["review"], Value::Null);
    let leads = view["leads"].as_array().unwrap();
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0]["lead_id"], lead_id);
    assert_eq!(leads[0]["product"], "loan");
    assert_eq!(leads[0]["amount_fen"], 5_000_000);
    assert_eq!(leads[0]["stage"], "new");

    // Finishing twice is refused by the visit's state machine.
    let (code, _, json) = fails(
        &store,
        &["visit", "finish", "--customer", &customer, "--visit", &visit, "--lat", "31.68", "--lng", "105.42"],
    );
    assert_eq!(code, 2);
    assert_eq!(json["error"]["code"], "transition");

    assert_eq!(ok(&store, &["quarantine"])["quarantined"].as_array().unwrap().len(), 0);
    assert_eq!(ok(&store, &["pool"])["pool"].as_array().unwrap().len(), 0);

    // A complaint is due in 15 days (no branch rules yet): not today, on the list 15 days ahead.
    let complaint = ok(&store, &["complaint", "add", "--customer", &customer, "--summary", "柜台排队太久"]);
    let complaint = complaint["complaint_id"].as_str().unwrap().to_string();
    let due = |days: &str| -> Vec<Value> {
        let today = ok(&store, &["today", "--days", days]);
        today["today"].as_array().unwrap().iter().filter(|i| i["kind"] == "complaint").cloned().collect()
    };
    assert!(due("0").is_empty());
    assert_eq!(due("15")[0]["item_id"], complaint.as_str());
    let handled =
        ["complaint", "resolve", "--customer", &customer, "--complaint", &complaint, "--resolution", "已致歉"];
    ok(&store, &handled);
    assert!(due("15").is_empty());
    let (code, _, json) = fails(&store, &handled);
    assert_eq!((code, json["error"]["code"].as_str()), (2, Some("transition")));
    let (code, ..) = fails(&store, &["today", "--days", "-1"]);
    assert_eq!(code, 2);
}

#[test]
fn bad_input_is_refused_without_echoing_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = signed_in_store(&dir);

    let (code, printed, json) =
        fails(&store, &["add-customer", "--name", "李四", "--village", "韩桥村", "--phone", "1381234567"]);
    assert_eq!(code, 2, "{printed}");
    assert_eq!(json["error"]["code"], "invalid");
    assert!(printed.contains("手机号") && printed.contains("profile.phone"), "{printed}");
    assert!(!printed.contains("1381234567"), "{printed}");

    let (code, printed, _) =
        fails(&store, &["add-customer", "--name", "李四", "--village", "韩桥村", "--id-number", "422822196408275664"]);
    assert_eq!(code, 2);
    assert!(!printed.contains("422822196408275664"), "{printed}");
    assert!(!printed.contains("1964"), "{printed}");

    // Nothing was written by the refused commands.
    assert_eq!(ok(&store, &["list"])["customers"].as_array().unwrap().len(), 0);

    let (code, _, json) = fails(&store, &["show", "--customer", "no-such-customer"]);
    assert_ne!(code, 0);
    assert_eq!(json["error"]["code"], "not_found");
    let (code, _, _) =
        fails(&store, &["visit", "start", "--customer", "no-such-customer", "--lat", "31.6", "--lng", "105.4"]);
    assert_ne!(code, 0);
    let (code, _, _) = fails(&store, &["claim", "--customer", "no-such-customer"]);
    assert_ne!(code, 0);

    // A failed GPS fix (0,0) and unknown codes are usage errors.
    let customer = ok(&store, &["add-customer", "--name", "李四", "--village", "韩桥村"])["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, printed, _) = fails(&store, &["visit", "start", "--customer", &customer, "--lat", "0", "--lng", "0"]);
    assert_eq!(code, 2, "{printed}");
    let (code, _, _) = fails(
        &store,
        &["visit", "start", "--customer", &customer, "--lat", "31.6", "--lng", "105.4", "--purpose", "party"],
    );
    assert_eq!(code, 2);
    let (code, _, _) = fails(&store, &["lead", "add", "--customer", &customer, "--product", "loan", "--amount-fen=-5"]);
    assert_eq!(code, 2);
    let (code, _, _) = fails(&store, &["list", "--bogus"]);
    assert_eq!(code, 2);
}

#[test]
fn sync_and_writes_need_a_signed_in_device() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("device.db");

    let (code, printed, json) = fails(&store, &["sync"]);
    assert_eq!(code, 5, "{printed}");
    assert_eq!(json["error"]["code"], "not_signed_in");
    assert!(printed.contains("尚未登录") && printed.contains("not signed in"), "{printed}");

    let (code, printed, _) = fails(&store, &["add-customer", "--name", "李四", "--village", "韩桥村"]);
    assert_eq!(code, 5);
    assert!(printed.contains("not signed in"), "{printed}");

    // Signed in locally only: there is still no server to sync with.
    let store = signed_in_store(&dir);
    let (code, printed, _) = fails(&store, &["sync"]);
    assert_eq!(code, 5);
    assert!(printed.contains("not signed in"), "{printed}");
}

#[test]
fn an_encrypted_store_needs_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("device.db");
    let key = "0f".repeat(32);
    ok(&store, &["--key-hex", &key, "sign-in-offline", "--user-id", "m1", "--name", "王建国"]);
    ok(&store, &["--key-hex", &key, "add-customer", "--name", "杨桂敏", "--village", "韩桥村"]);
    assert_eq!(ok(&store, &["--key-hex", &key, "list"])["customers"].as_array().unwrap().len(), 1);

    let (code, printed, _) = fails(&store, &["--key-hex", "not-hex", "list"]);
    assert_eq!(code, 2);
    assert!(!printed.contains("not-hex"), "{printed}");
}

/// Runs the device CLI with stdout and stderr wired as given (no `--json` unless in `args`).
fn device_with(store: &Path, args: &[&str], stdout: Stdio, stderr: Stdio) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fieldsync-device"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("FIELDSYNC_STORE")
        .env_remove("FIELDSYNC_KEY")
        .env_remove("FIELDSYNC_PASSWORD")
        .stdout(stdout)
        .stderr(stderr)
        .output()
        .expect("the fieldsync-device binary runs")
}

/// A pipe whose reader is already gone: every write to it fails with a broken pipe.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer.into()
}

fn assert_no_panic(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{what}: {stderr}");
}

/// `fieldsync-device list | head -1`: the reader takes the first bytes and goes away while a
/// list far longer than a pipe's buffer is still being written.
#[test]
fn a_reader_that_closes_early_ends_a_long_list_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let store = signed_in_store(&dir);
    {
        // Long names and villages (100 characters, the limit) make ~650 bytes a line: 300
        // customers are several times a 64 KiB pipe buffer.
        let mut s = Store::open(&store, None).unwrap();
        let village = "村".repeat(100);
        for i in 0..300 {
            let name = format!("{i:03}{}", "名".repeat(97));
            s.create_customer(Profile::new(CustomerKind::Individual, name, village.as_str()), 1_753_056_000_000)
                .unwrap();
        }
    }
    for args in [&["list", "--limit", "1000"][..], &["--json", "list", "--limit", "1000"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fieldsync-device"))
            .arg("--store")
            .arg(&store)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = [0u8; 1024];
        let mut stdout = child.stdout.take().unwrap();
        stdout.read_exact(&mut head).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_no_panic(&out, &format!("{args:?}"));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        // What the reader got is the start of the list itself.
        let head = String::from_utf8_lossy(&head);
        if args[0] == "--json" {
            assert!(head.starts_with("{\"customers\":[{"), "{head}");
        } else {
            assert_eq!(head.split('\t').next().unwrap().len(), 36, "a customer ID first: {head}");
        }
    }
}

/// Every output path, with its reader gone before the command writes: results on stdout end
/// with status 0; a failure keeps its own exit code; a closed stderr does not stop a write.
#[test]
fn closed_pipes_never_panic_and_keep_the_commands_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = signed_in_store(&dir);
    let customer = ok(&store, &["add-customer", "--name", "杨桂敏", "--village", "韩桥村"])["customer_id"]
        .as_str()
        .unwrap()
        .to_string();

    let successes: [&[&str]; 9] = [
        &["list"],
        &["--json", "list"],
        &["show", "--customer", &customer],
        &["--json", "show", "--customer", &customer],
        &["pool"],
        &["quarantine"],
        &["add-customer", "--name", "张三", "--village", "韩桥村"],
        &["--help"],
        &["--version"],
    ];
    for args in successes {
        let out = device_with(&store, args, closed_pipe(), Stdio::piped());
        assert_no_panic(&out, &format!("{args:?}"));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        // Both stdout and stderr gone (`… 2>&1 | head -0`).
        let out = device_with(&store, args, closed_pipe(), closed_pipe());
        assert_eq!(out.status.code(), Some(0), "{args:?} with stderr closed too");
    }
    // The two add-customer runs above (stdout closed, then both) still created their customer.
    assert_eq!(ok(&store, &["list"])["customers"].as_array().unwrap().len(), 3);

    for json in [true, false] {
        let mut args = vec!["show", "--customer", "no-such-customer"];
        if json {
            args.insert(0, "--json");
        }
        let out = device_with(&store, &args, closed_pipe(), Stdio::piped());
        assert_no_panic(&out, &format!("{args:?}"));
        assert_eq!(out.status.code(), Some(2), "a failure keeps its exit code: {args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
        let out = device_with(&store, &args, closed_pipe(), closed_pipe());
        assert_eq!(out.status.code(), Some(2), "{args:?} with stderr closed too");
    }

    // Progress and messages on a closed stderr: the command still does its work and prints its
    // result on stdout.
    let out =
        device_with(&store, &["add-customer", "--name", "李四", "--village", "韩桥村"], Stdio::piped(), closed_pipe());
    assert_eq!(out.status.code(), Some(0));
    let id = String::from_utf8(out.stdout).unwrap();
    assert_eq!(ok(&store, &["show", "--customer", id.trim()])["profile"]["name"], "李四");
}
