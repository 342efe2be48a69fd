//! The supervisor web app in a real headless Chromium (driven by chromedriver over WebDriver),
//! against the real server on loopback with its demo branch, and a real device that syncs the
//! supervisor's decision. `scripts/test.sh` installs Debian's `chromium` and `chromium-driver`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use fieldsync_core::sync::SyncOptions;
use fieldsync_ffi::Device;
use fieldsync_tests::TestServer;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free loopback port; killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        for path in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: apt-get install -y chromium chromium-driver (scripts/test.sh does)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver { child, url: format!("http://127.0.0.1:{port}") }
    }

    async fn browser(&self, profile: &std::path::Path) -> Client {
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), json!({ "binary": CHROMIUM, "args": args }));
        ClientBuilder::new(HttpConnector::new()).capabilities(caps).connect(&self.url).await.expect("a browser session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text of the element `css` once it holds `needle` (after a click the old page may still be
/// showing; an element of it may go stale as we read it). Fails after 20 s with what it saw.
async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = c.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if text.contains(needle) {
                return text;
            }
            seen = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {needle:?}; it showed {seen:?}");
}

/// The text of the element `css` (waiting for it to exist).
async fn text(c: &Client, css: &str) -> String {
    wait_text(c, css, "").await
}

async fn sign_in(c: &Client, base: &str, username: &str, password: &str) {
    c.goto(&format!("{base}/login")).await.unwrap();
    c.find(Locator::Css("input[name=username]")).await.unwrap().send_keys(username).await.unwrap();
    c.find(Locator::Css("input[name=password]")).await.unwrap().send_keys(password).await.unwrap();
    c.find(Locator::Id("sign-in")).await.unwrap().click().await.unwrap();
}

/// Runs blocking device work off the test's runtime.
async fn on_device<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_reviews_the_demo_branch_in_a_real_browser() {
    let server = TestServer::on(tempfile::tempdir().unwrap(), true);
    let base = server.url();
    let tablet_dir = tempfile::tempdir().unwrap();
    let tablet_path = tablet_dir.path().join("tablet.db");
    // Manager 1's tablet: signed in and synced (its customers and visits arrive).
    let (url, path) = (base.clone(), tablet_path.clone());
    on_device(move || {
        let mut device = Device::open(&path, None).unwrap();
        device.login(&url, "manager1", "demo-manager-1").unwrap();
        device
            .sync(SyncOptions { now: fieldsync_tests::now_ms(), ..Default::default() }, &mut |_| {}, &|| false)
            .unwrap();
    })
    .await;

    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let c = driver.browser(profile.path()).await;

    // Signed out: the sign-in page; a manager is refused.
    c.goto(&format!("{base}/visits")).await.unwrap();
    assert!(c.current_url().await.unwrap().as_str().contains("/login?next=/visits"));
    sign_in(&c, &base, "manager1", "demo-manager-1").await;
    wait_text(&c, "#login-error", "客户经理请使用平板应用").await;

    // The supervisor signs in and filters the log: manager 1's visits checked in far away.
    sign_in(&c, &base, "supervisor", "demo-supervisor").await;
    c.wait().for_element(Locator::Id("visit-list")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/visits"));
    let manager = c.find(Locator::Css("select[name=manager]")).await.unwrap();
    manager.select_by_label("王建国").await.unwrap();
    c.find(Locator::Css("select[name=flag]")).await.unwrap().select_by_value("far").await.unwrap();
    c.find(Locator::Id("apply-filters")).await.unwrap().click().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !c.current_url().await.unwrap().query().is_some_and(|q| q.contains("flag=far")) {
        assert!(Instant::now() < deadline, "the filter did not apply");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.wait().for_element(Locator::Css("#visit-list, #no-visits")).await.unwrap();
    let rows = c.find_all(Locator::Css("#visit-list tbody tr")).await.unwrap();
    assert!(!rows.is_empty(), "the demo has far check-ins");
    for row in &rows {
        assert!(row.text().await.unwrap().contains("签到位置远离客户"));
    }

    // A flagged visit: its reason, then returned with a comment.
    rows[0].find(Locator::Css("a")).await.unwrap().click().await.unwrap();
    wait_text(&c, "#flags", "签到位置距客户登记位置").await;
    let section = c.find(Locator::Id("visit")).await.unwrap();
    let visit_id = section.attr("data-visit").await.unwrap().unwrap();
    let customer_id = section.attr("data-customer").await.unwrap().unwrap();
    // Returning needs a comment.
    c.find(Locator::Id("return")).await.unwrap().click().await.unwrap();
    wait_text(&c, "body", "退回或存疑时请填写意见").await;
    c.back().await.unwrap();
    c.find(Locator::Id("comment")).await.unwrap().send_keys("请补拍门牌照片").await.unwrap();
    c.find(Locator::Id("return")).await.unwrap().click().await.unwrap();
    wait_text(&c, "#decided", "将在平板下次同步时送达").await;
    assert_eq!(text(&c, "#review-comment").await, "请补拍门牌照片");

    // The decision reaches the tablet at its next sync.
    let (url, path, visit, customer) = (base.clone(), tablet_path.clone(), visit_id.clone(), customer_id.clone());
    let review = on_device(move || {
        let mut device = Device::open(&path, None).unwrap();
        let _ = url;
        device
            .sync(SyncOptions { now: fieldsync_tests::now_ms(), ..Default::default() }, &mut |_| {}, &|| false)
            .unwrap();
        device.store().customer_file(&customer).unwrap().reviews.get(&visit).cloned()
    })
    .await
    .expect("the tablet holds the review");
    assert_eq!((review.decision.code(), review.comment.as_str()), ("returned", "请补拍门牌照片"));

    // Hostile forms change nothing: a forged token, a huge comment, another visit's ID.
    let visit_url = format!("{base}/visits/{customer_id}/{visit_id}");
    c.goto(&visit_url).await.unwrap();
    c.execute("document.querySelector('#decide input[name=csrf]').value = 'forged';", vec![]).await.unwrap();
    c.find(Locator::Id("approve")).await.unwrap().click().await.unwrap();
    wait_text(&c, "body", "表单已过期或来源无效").await;
    c.goto(&visit_url).await.unwrap();
    c.execute("document.getElementById('comment').value = 'x'.repeat(200000);", vec![]).await.unwrap();
    c.find(Locator::Id("flag")).await.unwrap().click().await.unwrap();
    wait_text(&c, "body", "输入过长").await;
    c.goto(&visit_url).await.unwrap();
    wait_text(&c, "#review-status", "退回").await;
    c.goto(&format!("{base}/visits/{customer_id}/v_0000000000000000")).await.unwrap();
    wait_text(&c, "body", "找不到该记录").await;

    // The customer's page: the phone masked, revealed on request.
    c.goto(&format!("{base}/customers/{customer_id}")).await.unwrap();
    wait_text(&c, "#phone-masked", "****").await;
    c.find(Locator::Id("reveal-phone")).await.unwrap().click().await.unwrap();
    let phone = text(&c, "#revealed-value").await;
    assert!(text(&c, "#revealed").await.contains("已记入审计日志"));
    assert!(phone.len() == 11 && phone.bytes().all(|b| b.is_ascii_digit()), "{phone}");

    // The export: UTF-8 with a byte-order mark, the Chinese header, the returned visit in it.
    let bytes = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/visits.csv?review=returned').then(r => r.arrayBuffer())
               .then(b => done(Array.from(new Uint8Array(b))));",
            vec![],
        )
        .await
        .unwrap();
    let bytes: Vec<u8> = serde_json::from_value(bytes).unwrap();
    assert_eq!(&bytes[..3], &[0xEF, 0xBB, 0xBF]);
    let csv = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(csv.starts_with("走访编号,时间,客户"), "{csv}");
    assert!(csv.contains(&visit_id) && csv.contains("请补拍门牌照片"));

    // The branch's rules: the complaint limit set from the form, saved and shown.
    c.goto(&format!("{base}/rules")).await.unwrap();
    let days = c.find(Locator::Css("#customer-rules input[name=complaint_days]")).await.unwrap();
    days.clear().await.unwrap();
    days.send_keys("10").await.unwrap();
    c.find(Locator::Id("save-customer-rules")).await.unwrap().click().await.unwrap();
    wait_text(&c, "#saved", "已保存").await;
    let shown = c.find(Locator::Css("#customer-rules input[name=complaint_days]")).await.unwrap();
    assert_eq!(shown.prop("value").await.unwrap().as_deref(), Some("10"));

    // The overview's charts are drawn (the vendored ECharts runs under the page's CSP).
    c.goto(&format!("{base}/overview")).await.unwrap();
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("body[data-charts]"))
        .await
        .expect("the charts are drawn");
    assert!(c.find(Locator::Css("#chart-daily canvas")).await.is_ok());
    wait_text(&c, "#devices", "王建国").await;

    // English on request.
    c.find(Locator::Css("a.lang")).await.unwrap().click().await.unwrap();
    wait_text(&c, "body", "Branch overview").await;

    // Signing out; the admin finds the reveal in the audit log.
    c.find(Locator::Id("logout")).await.unwrap().click().await.unwrap();
    sign_in(&c, &base, "admin", "demo-admin-pass").await;
    c.wait().for_element(Locator::Id("logout")).await.unwrap();
    c.goto(&format!("{base}/audit")).await.unwrap();
    let audit = wait_text(&c, "#audit", "customer.reveal_phone").await;
    assert!(audit.contains(&customer_id), "{audit}");
    assert!(!audit.contains(&phone));

    // Signed out, the pages are closed again (a tampered cookie is the router tests' case).
    c.find(Locator::Id("logout")).await.unwrap().click().await.unwrap();
    c.goto(&format!("{base}/audit")).await.unwrap();
    c.wait().for_element(Locator::Id("sign-in")).await.unwrap();
    c.close().await.unwrap();
}
