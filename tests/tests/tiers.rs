//! Value tiers from the core banking system's asset file, through the real server on loopback to
//! a real tablet: the supervisor's import answers with the refused lines, the tablet shows the
//! tier with its "as of" date offline and filters by it, and the lifecycle stage the server
//! computes reaches the tablet after its sweep.

use fieldsync_core::domain::{CustomerKind, Lifecycle, Profile, ValueTier};
use fieldsync_core::store::CustomerFilter;
use fieldsync_tests::attack::Client;
use fieldsync_tests::{TestServer, device, now_ms, sync};

#[test]
fn tiers_follow_an_imported_asset_file_onto_the_tablet() {
    let (server, branch) = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut m1 = device(dir.path(), "m1", &server.url(), "m1");
    let mut sup = device(dir.path(), "sup", &server.url(), "sup");
    let mut profile = Profile::new(CustomerKind::Individual, "杨桂敏", "韩桥村");
    profile.id_number = Some("11010519491231002X".into());
    let rich = m1.store().create_customer(profile, now_ms()).unwrap();
    let plain = m1.store().create_customer(Profile::new(CustomerKind::Individual, "王五", "韩桥村"), now_ms()).unwrap();
    sync(&mut m1).unwrap();

    let csv = "id_number,as_of,assets_yuan\n11010519491231002x,2026-06-30,6500000\nnot-an-id,2026-06-30,5\n";
    let (status, body) = Client::of_device(&mut sup).post("/api/v1/imports/assets", "text/csv", csv.as_bytes());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(report["imported"], 1);
    assert_eq!(report["rejected"][0]["line"], 3);
    assert_eq!(report["rejected"][0]["code"], "id_number");
    assert!(!String::from_utf8_lossy(&body).contains("not-an-id"), "a refused value is never echoed");
    // A manager may not import.
    assert_eq!(Client::of_device(&mut m1).post("/api/v1/imports/assets", "text/csv", csv.as_bytes()).0, 403);

    sync(&mut m1).unwrap();
    let view = m1.store().customer_360(&rich).unwrap();
    assert_eq!(view.file.server.value_tier, Some(ValueTier::PrivateBanking));
    let as_of = view.file.server.tier_as_of.expect("the tier carries its date");
    assert_eq!(fieldsync_core::domain::china_today(as_of), jiff::civil::date(2026, 6, 30));
    let filter = CustomerFilter { tier: Some(ValueTier::PrivateBanking), ..Default::default() };
    let found: Vec<String> =
        m1.store().customers(&filter, 50, None).unwrap().items.into_iter().map(|c| c.customer_id).collect();
    assert_eq!(found, vec![rich.clone()]);

    // The stages: computed by the server's sweep, then on the tablet, filterable.
    let changed = server.store().write_blocking(|s| fieldsync_server::stages::sweep(s, &branch.id, now_ms())).unwrap();
    assert_eq!(changed, 1, "the import computed the imported customer's stage already");
    sync(&mut m1).unwrap();
    assert_eq!(
        m1.store().customer_360(&rich).unwrap().file.server.lifecycle,
        Some(Lifecycle::FirstTime),
        "holds assets"
    );
    let filter = CustomerFilter { lifecycle: Some(Lifecycle::NonCustomer), ..Default::default() };
    let found: Vec<String> =
        m1.store().customers(&filter, 50, None).unwrap().items.into_iter().map(|c| c.customer_id).collect();
    assert_eq!(found, vec![plain.clone()]);

    // The server's rules tag them (tier, stage, age band from the ID number); a list filters by
    // a tag, whoever gave it, and so does a campaign.
    let tags = m1.store().customer_360(&rich).unwrap().file.server.auto_tags.0;
    for t in ["私人银行", "首次客户", "40后"] {
        assert!(tags.contains(t), "{t}: {tags:?}");
    }
    let mut by_tag = |tag: &str| -> Vec<String> {
        let filter = CustomerFilter { tag: Some(tag.into()), ..Default::default() };
        m1.store().customers(&filter, 50, None).unwrap().items.into_iter().map(|c| c.customer_id).collect()
    };
    assert_eq!(by_tag("40后"), vec![rich.clone()]);
    assert_eq!(by_tag("非客户"), vec![plain.clone()]);
    assert!(by_tag("90后").is_empty());
    let db = server.store();
    let sup_user =
        db.write_blocking(|s| fieldsync_server::accounts::user_by_id(s, &branch.supervisor)).unwrap().unwrap();
    let new = fieldsync_server::campaigns::NewCampaign {
        name: "财富讲座".into(),
        product: fieldsync_core::domain::Product::Wealth,
        starts_at: now_ms(),
        ends_at: now_ms() + 86_400_000,
        filter: fieldsync_server::store::campaigns::MemberFilter {
            tag: Some("私人银行".into()), ..Default::default()
        },
    };
    let (_, members) =
        db.write_blocking(|s| fieldsync_server::campaigns::create(s, &sup_user, &new, now_ms())).unwrap();
    assert_eq!(members, 1, "chosen by the server's tag");
}
