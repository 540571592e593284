//! Accessibility and tablet layout of every console page (issue #18 item 8),
//! in headless Chromium with axe-core (tools/axe): one seeded app (SQLite:
//! the pages render the same on both backends), one browser session, every
//! page of [`PAGES`] as a user who may see it, each checked by axe (0
//! serious or critical violations) and for horizontal overflow at 768 px
//! and 1024 px. The customer's feedback form, its thank-you page and the
//! unsubscribe page are checked at phone width (390 px). Per-page results
//! are printed and written to target/test-artifacts/a11y-report.txt;
//! docs/testing.md records a run.
//!
//! [`every_console_get_route_is_in_the_page_list`] reads the server's
//! source for `.route("/console/...", get(...))` so that a console page
//! added without a line in [`PAGES`] fails the build's tests.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use fieldsync_core::job::PaymentMethod;
use fieldsync_core::{JobAction, LineId, Money, Quantity, Role};
use fieldsync_server::feedback::SmtpTls;
use fieldsync_server::outbox::Worker;
use fieldsync_server::store::now_utc;
use fieldsync_server::testing::TestBackend;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::device::Device;
use crate::helpers::{PASSWORD, TestApp, actor, spawn_app_with};
use crate::office::{job_id, new_job, price_book, put_price_book};
use crate::refunds::{act_knowing, give_refund};
use crate::setup::{self, ok};
use crate::smtp::SmtpSink;
use crate::support::{customer, job_from_registry};
use crate::webdriver::{AxeViolation, Browser, LAPTOP, SMALL_PHONE, TABLET};

/// Who looks at a page: the seed's users (password [`PASSWORD`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    /// Nobody logged in (the login page).
    Nobody,
    Admin,
    /// "sup": supervisor of the depot and of the engineering desk team.
    Supervisor,
    /// "tech": the technician, who sees the menu at `/console`.
    Technician,
}

impl Who {
    fn username(self) -> &'static str {
        match self {
            Who::Nobody => "",
            Who::Admin => "admin",
            Who::Supervisor => "sup",
            Who::Technician => "tech",
        }
    }
}

/// Every console page: (the route as the server registers it, who opens
/// it, the URL, with `{name}` filled from the seed: `job`, `customer`,
/// `serial`, `sku`, `recall`, `return`, `user`, `team`). Add a line for a
/// new page; a route missing here fails
/// [`every_console_get_route_is_in_the_page_list`].
const PAGES: &[(&str, Who, &str)] = &[
    ("/console/login", Who::Nobody, "/console/login"),
    // The home page's figures (jobs, stock, feedback, sync) are all an admin's.
    ("/console", Who::Admin, "/console"),
    (
        "/console/customers",
        Who::Technician,
        "/console/customers?q=acme",
    ),
    (
        "/console/inventory/stock",
        Who::Admin,
        "/console/inventory/stock",
    ),
    (
        "/console/inventory/parts/{sku}",
        Who::Admin,
        "/console/inventory/parts/{sku}",
    ),
    (
        "/console/inventory/transfer",
        Who::Admin,
        "/console/inventory/transfer",
    ),
    (
        "/console/inventory/receipt",
        Who::Admin,
        "/console/inventory/receipt",
    ),
    (
        "/console/inventory/adjustment",
        Who::Admin,
        "/console/inventory/adjustment",
    ),
    (
        "/console/inventory/count",
        Who::Admin,
        "/console/inventory/count",
    ),
    (
        "/console/inventory/discrepancies",
        Who::Admin,
        "/console/inventory/discrepancies",
    ),
    (
        "/console/inventory/replenishment",
        Who::Admin,
        "/console/inventory/replenishment",
    ),
    (
        "/console/inventory/consumption",
        Who::Admin,
        "/console/inventory/consumption",
    ),
    (
        "/console/customers",
        Who::Admin,
        "/console/customers?q=bx-7",
    ),
    (
        "/console/customers/{id}",
        Who::Admin,
        "/console/customers/{customer}",
    ),
    (
        "/console/assets/{serial}",
        Who::Admin,
        "/console/assets/{serial}",
    ),
    ("/console/jobs/{id}", Who::Admin, "/console/jobs/{job}"),
    ("/console/dispatch", Who::Admin, "/console/dispatch"),
    ("/console/feedback", Who::Admin, "/console/feedback"),
    (
        "/console/my-feedback",
        Who::Technician,
        "/console/my-feedback",
    ),
    (
        "/console/feedback/followups",
        Who::Admin,
        "/console/feedback/followups",
    ),
    ("/console/recalls", Who::Admin, "/console/recalls"),
    (
        "/console/recalls/{id}",
        Who::Admin,
        "/console/recalls/{recall}",
    ),
    ("/console/shipping", Who::Admin, "/console/shipping"),
    (
        "/console/shipping/returns/{id}/slip",
        Who::Admin,
        "/console/shipping/returns/{return}/slip",
    ),
    ("/console/users", Who::Admin, "/console/users"),
    ("/console/users/{id}", Who::Admin, "/console/users/{user}"),
    (
        "/console/sync-health",
        Who::Admin,
        "/console/sync-health?hours=1",
    ),
    (
        "/console/invoices",
        Who::Admin,
        "/console/invoices?state=all",
    ),
    (
        "/console/invoices/{key}",
        Who::Admin,
        "/console/invoices/{job}",
    ),
    ("/console/refunds", Who::Supervisor, "/console/refunds"),
    ("/console/desk", Who::Supervisor, "/console/desk"),
    (
        "/console/desk/queues/{team}",
        Who::Supervisor,
        "/console/desk/queues/{team}",
    ),
    (
        "/console/desk/escalations",
        Who::Supervisor,
        "/console/desk/escalations",
    ),
    (
        "/console/desk/customers/{id}",
        Who::Supervisor,
        "/console/desk/customers/{customer}",
    ),
    ("/console/pricebook", Who::Admin, "/console/pricebook"),
];

/// GET routes under /console that are not pages: an attachment and its
/// thumbnail (files), and a permanent redirect to a page above.
const NOT_PAGES: &[&str] = &[
    "/console/dispatch.js",
    "/console/jobs/{id}/attachments/{sha256}",
    "/console/jobs/{id}/attachments/{sha256}/thumbnail",
    "/console/shipping/parts",
];

/// What the seed must put on a page (a CSS selector that matches), so
/// that what axe checks is a page with data, not its empty state.
const SHOWS: &[(&str, &str)] = &[
    ("/console", "#jobs-by-status"),
    ("/console/inventory/stock", "tr.low"),
    ("/console/customers/{id}", "section.asset"),
    ("/console/jobs/{id}", "#status"),
    ("/console/feedback", "#comments tbody tr"),
    ("/console/feedback/followups", "#followups tbody tr"),
    ("/console/my-feedback", "#my-feedback tbody tr"),
    ("/console/recalls/{id}", "table.quarantined tbody tr"),
    ("/console/shipping", "table.rmas tbody tr"),
    ("/console/users/{id}", "table.devices tbody tr"),
    ("/console/refunds", "table.refunds tbody tr"),
    ("/console/invoices", "table.invoices tbody tr"),
    ("/console/invoices/{key}", "#invoice-number"),
    ("/console/desk/queues/{team}", "table.items tbody tr"),
    ("/console/pricebook", "li[data-version]"),
];

/// The console's error page (a 404 as a logged-in user sees it).
const ERROR_PAGE: &str = "/console/customers/00000000-0000-4000-8000-000000000000";

#[test]
fn every_console_get_route_is_in_the_page_list() {
    let served = console_get_routes();
    let listed: BTreeSet<&str> = PAGES.iter().map(|(route, _, _)| *route).collect();
    let missing: Vec<&String> = served
        .iter()
        .filter(|r| !listed.contains(r.as_str()) && !NOT_PAGES.contains(&r.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "console pages the accessibility test does not visit: add them to PAGES in {}: {missing:?}",
        file!()
    );
    let stale: Vec<&&str> = listed
        .iter()
        .chain(NOT_PAGES)
        .filter(|r| !served.contains(**r))
        .collect();
    assert!(stale.is_empty(), "listed but not served: {stale:?}");
}

/// The GET routes under `/console` that server/src registers: each
/// `.route(PATH, ...)` whose method router has a `get(`, PATH a string
/// literal or a `const` of the same file.
fn console_get_routes() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src"),
        &mut files,
    );
    assert!(files.len() > 20, "server sources not found: {files:?}");
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, _) in text.match_indices(".nest(") {
            assert!(
                !text[i..]
                    .trim_start_matches(".nest(")
                    .trim_start()
                    .starts_with("\"/console"),
                "{}: a nested console router: list its routes here",
                file.display()
            );
        }
        for (i, _) in text.match_indices(".route(") {
            let open = i + ".route".len();
            let args = balanced(&text[open..]);
            let first = args[1..].trim_start();
            let path = if let Some(lit) = first.strip_prefix('"') {
                lit[..lit.find('"').unwrap()].to_owned()
            } else {
                let name: String = first
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let name = name.rsplit("::").next().unwrap();
                let decl = format!("const {name}: &str = \"");
                let Some(at) = text.find(&decl) else {
                    // Not a path this scan can read: fine unless it is a console page.
                    assert!(
                        !args.contains("/console"),
                        "{}: cannot read the route {first:.40}",
                        file.display()
                    );
                    continue;
                };
                let rest = &text[at + decl.len()..];
                rest[..rest.find('"').unwrap()].to_owned()
            };
            let is_get = args
                .match_indices("get(")
                .any(|(j, _)| !args[..j].ends_with(|c: char| c.is_alphanumeric() || c == '_'));
            if path.starts_with("/console") && is_get {
                routes.insert(path);
            }
        }
    }
    routes
}

/// `s` from its first `(` to the matching `)`.
fn balanced(s: &str) -> &str {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &s[..=i];
                }
            }
            _ => {}
        }
    }
    s
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The app with something on every page, and the customer's feedback link.
struct Seeded {
    app: TestApp,
    link: String,
    values: BTreeMap<&'static str, String>,
    _smtp: SmtpSink,
}

fn line() -> LineId {
    LineId::from_uuid(Uuid::new_v4())
}

/// A depot with a van, stock (the van's valves below their reorder point),
/// a customer with an asset, a visit done with a part, labour, a payment, a
/// refund above the technician's limit (awaiting approval) and a
/// signature, its feedback email, an open job, a desk contact, a recall, a
/// return and a shipment; users admin, mgr, tech, dispatch and sup (the
/// depot's and the engineering team's supervisor), with devices.
async fn seed() -> Seeded {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let mut feedback = None;
    let app = spawn_app_with(TestBackend::Sqlite, |s| {
        let f = &mut s.feedback;
        f.outbox_worker = false;
        f.feedback_delay_secs = 0;
        f.smtp_host = Some("127.0.0.1".into());
        f.smtp_port = port;
        f.smtp_tls = SmtpTls::None;
        f.mail_from = "Fieldsync <feedback@fieldsync.test>".into();
        feedback = Some(f.clone());
    })
    .await;
    let d = setup::depot(&app).await;
    let res = put_price_book(&app, &d.admin, &price_book()).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let dispatcher = app.user("dispatch", Role::Dispatcher).await;
    let office = app.login("dispatch", &actor(230)).await.access_token;
    let sup = app.user("sup", Role::Supervisor).await;
    ok(
        &app,
        Method::POST,
        &d.admin,
        &format!("/v1/inventory/locations/{}/staff", d.depot),
        Some(json!({"user_id": sup.to_string()})),
    )
    .await;
    ok(
        &app,
        Method::PUT,
        &d.admin,
        "/v1/desk/teams/engineering",
        Some(json!({"members": [dispatcher.to_string()], "supervisor_id": sup.to_string()})),
    )
    .await;
    let depot = d.depot.to_string();
    let acme = customer(&app, &office, &depot, "Acme Boilers", "BX-7", "2031-01-31").await;

    // The visit, on the technician's phone.
    let id = job_id(
        &ok(
            &app,
            Method::POST,
            &office,
            "/v1/jobs",
            Some(new_job("Ana Lima", Some(d.tech))),
        )
        .await,
    );
    let mut phone = Device::login(&app, "tech", Role::Technician, 231).await;
    assert!(phone.sync(&app).await.rejected().is_empty());
    let payment = line();
    for action in [
        JobAction::StartTravel,
        JobAction::Arrive,
        JobAction::UsePart {
            line: line(),
            sku: "VALVE-22".parse().unwrap(),
            quantity: Quantity::new(2).unwrap(),
            serials: vec![],
            van: d.van,
        },
        JobAction::AddLabour {
            entry: line(),
            minutes: 60,
            rate: "standard".into(),
            description: "Replaced the igniter".into(),
        },
        JobAction::RecordPayment {
            payment,
            method: PaymentMethod::Card,
            amount: Money(12600),
            reference: Some("TERM-9".into()),
        },
    ] {
        act_knowing(&mut phone, id, action);
    }
    give_refund(&mut phone, id, payment, 6000);
    for action in [
        JobAction::CaptureSignature {
            signer: "Ana Lima".into(),
            image_sha256: "ab".repeat(32),
        },
        JobAction::Complete,
    ] {
        act_knowing(&mut phone, id, action);
    }
    let synced = phone.sync(&app).await;
    assert!(synced.rejected().is_empty(), "{:?}", synced.rejected());

    // Its feedback email, by the outbox worker's round.
    let worker = Worker::new(app.store.clone(), feedback.unwrap(), app.url(""));
    // (And its invoice email: two messages.)
    assert_eq!(worker.run_once_at(now_utc()).await.unwrap(), 2);
    let text = smtp
        .messages()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .find(|t| t.contains("/feedback/"))
        .expect("the feedback email");
    let start = text.find("http://").expect("a link in the email");
    let link: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();

    // An open job on the customer's asset.
    ok(
        &app,
        Method::POST,
        &office,
        "/v1/jobs",
        Some(job_from_registry(
            json!({"asset_id": acme.asset}),
            Some(&d.tech.to_string()),
        )),
    )
    .await;
    // A call to the desk, a recall, a return and a shipment.
    ok(
        &app,
        Method::POST,
        &office,
        "/v1/desk/contacts",
        Some(json!({
            "id": Uuid::new_v4(), "customer_id": acme.customer, "channel": "phone",
            "direction": "inbound", "category": "technical",
            "summary": "Boiler pressure drops overnight",
        })),
    )
    .await;
    let recall = Uuid::new_v4();
    ok(
        &app,
        Method::POST,
        &d.admin,
        "/v1/recalls",
        Some(json!({
            "id": recall, "sku": "PUMP-7", "ranges": [{"first": "SN-1", "last": "SN-5"}],
            "reason": "Seal may leak under pressure", "remedy": "replace",
            "compensation": "A free annual service",
        })),
    )
    .await;
    let rma = Uuid::new_v4();
    ok(
        &app,
        Method::POST,
        &office,
        "/v1/returns",
        Some(json!({"id": rma, "sku": "BOILER-X200", "serial": "BX-7",
            "reason": "Heat exchanger cracked", "condition": "faulty",
            "depot_id": d.depot, "customer_id": acme.customer})),
    )
    .await;
    ok(
        &app,
        Method::POST,
        &d.manager,
        "/v1/shipments",
        Some(json!({
            "id": Uuid::new_v4(), "customer_id": acme.customer, "site_id": acme.site,
            "depot_id": d.depot, "sku": "VALVE-22", "quantity": 1, "serials": [],
            "note": "replacement under warranty",
        })),
    )
    .await;

    let values = BTreeMap::from([
        ("job", id.to_string()),
        ("customer", acme.customer.clone()),
        ("serial", "BX-7".to_owned()),
        ("sku", "VALVE-22".to_owned()),
        ("recall", recall.to_string()),
        ("return", rma.to_string()),
        ("user", d.tech.to_string()),
        ("team", "engineering".to_owned()),
    ]);
    Seeded {
        app,
        link,
        values,
        _smtp: smtp,
    }
}

/// `url` with each `{name}` replaced by the seed's value.
fn fill(url: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = url.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    assert!(!out.contains('{'), "no seed value for {url}");
    out
}

/// What one page showed.
struct Checked {
    page: String,
    width: u32,
    violations: Vec<AxeViolation>,
    /// What else is wrong: sideways scrolling (at which width), not
    /// exactly one h1.
    problems: Vec<String>,
}

impl Checked {
    fn line(&self) -> String {
        let mut by_impact = BTreeMap::<&str, usize>::new();
        for v in &self.violations {
            *by_impact.entry(v.impact.as_str()).or_default() += 1;
        }
        let counts = ["critical", "serious", "moderate", "minor"]
            .map(|i| format!("{i} {}", by_impact.get(i).unwrap_or(&0)))
            .join(", ");
        let mut out = format!("{} @{}px: {counts}", self.page, self.width);
        for p in &self.problems {
            let _ = write!(out, "; {p}");
        }
        for v in &self.violations {
            let _ = write!(
                out,
                "\n    {} {}: {} [{}]",
                v.impact,
                v.id,
                v.help,
                v.targets.join(" | ")
            );
        }
        out
    }
}

/// Whether the page scrolls sideways at the window's current width.
async fn overflows(b: &Browser) -> bool {
    b.eval("return document.scrollingElement.scrollWidth > window.innerWidth + 1;")
        .await
        .as_bool()
        .unwrap()
}

/// axe and the overflow check on the page `b` shows, at `size`; at tablet
/// width, also at laptop width (1024 px).
async fn check(b: &Browser, page: String, size: (u32, u32)) -> Checked {
    let violations = b.axe().await;
    let mut problems = Vec::new();
    if overflows(b).await {
        problems.push(format!("scrolls sideways at {} px", size.0));
    }
    if size == TABLET {
        b.resize(LAPTOP).await;
        if overflows(b).await {
            problems.push(format!("scrolls sideways at {} px", LAPTOP.0));
        }
        b.resize(TABLET).await;
    }
    let h1s = b
        .eval("return document.querySelectorAll('h1').length;")
        .await;
    if h1s != 1 {
        problems.push(format!("{h1s} h1 headings"));
    }
    let checked = Checked {
        page,
        width: size.0,
        violations,
        problems,
    };
    println!("a11y {}", checked.line());
    checked
}

fn artifact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts")
        .join(name)
}

/// The page's first heading, to tell a page from the console's error page.
async fn heading(b: &Browser) -> String {
    b.eval("const h = document.querySelector('h1'); return h ? h.textContent : '';")
        .await
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_console_page_passes_axe_at_tablet_width() {
    // Never visit a stale list.
    every_console_get_route_is_in_the_page_list();
    let s = seed().await;
    let mut results = Vec::new();

    // The customer's pages, on a small phone.
    let b = Browser::start(SMALL_PHONE).await;
    b.goto(&s.link).await;
    assert_eq!(heading(&b).await, "How did the visit go?");
    results.push(check(&b, "/feedback/{token} (form)".into(), SMALL_PHONE).await);
    b.screenshot(&artifact("a11y-feedback-form-390.png")).await;
    b.click("input[name=fixed][value=no]").await;
    b.click("input[name=rating][value='2']").await;
    b.click("input[name=courtesy][value='3']").await;
    b.click("input[name=recommend][value='4']").await;
    b.type_into("#comment", "The boiler stopped again the next day.")
        .await;
    b.click("#submit").await;
    assert_eq!(b.text("#title").await, "Thank you!");
    results.push(check(&b, "/feedback/{token} (thank-you)".into(), SMALL_PHONE).await);
    b.screenshot(&artifact("a11y-feedback-thanks-390.png"))
        .await;
    b.goto(&format!("{}/unsubscribe", s.link)).await;
    results.push(check(&b, "/feedback/{token}/unsubscribe".into(), SMALL_PHONE).await);

    // The console, on a tablet, user by user.
    b.resize(TABLET).await;
    b.goto(&s.app.url("/console/login")).await;
    assert_eq!(
        b.eval("return window.innerWidth;").await,
        TABLET.0,
        "the viewport the overflow check measures"
    );
    let base = s.app.url("");
    let mut who = Who::Nobody;
    let mut order: Vec<&(&str, Who, &str)> = PAGES.iter().collect();
    order.sort_by_key(|(_, w, _)| *w);
    let shots = [
        "/console/inventory/stock",
        "/console/jobs/{id}",
        "/console/users/{id}",
        "/console/desk/queues/{team}",
    ];
    for (route, page_who, url) in order {
        if *page_who != who {
            if who != Who::Nobody {
                b.click("#logout").await;
                b.wait_for_path(|p| p == "/console/login").await;
            }
            b.console_login(&base, page_who.username(), PASSWORD).await;
            who = *page_who;
        }
        let url = fill(url, &s.values);
        b.goto(&s.app.url(&url)).await;
        let path = b.path().await.unwrap_or_default();
        if who != Who::Nobody {
            assert_ne!(path, "/console/login", "{url}: logged out");
            // The frame's skip link leads past the menu to the main landmark
            // (pages without the menu, like the packing slip, need none).
            let skip = b
                .eval(
                    "const a = document.querySelector('a.skip');
                     return !document.querySelector('header nav')
                       || (!!a && a.getAttribute('href') === '#main' && !!document.querySelector('main#main'));",
                )
                .await;
            assert_eq!(skip, true, "{url}: no skip link to main#main");
        }
        let h1 = heading(&b).await;
        assert!(
            !h1.is_empty() && !h1.starts_with(|c: char| c.is_ascii_digit()),
            "{url} as {who:?}: an error page or no heading: {h1:?}"
        );
        if let Some((_, css)) = SHOWS.iter().find(|(r, _)| r == route) {
            let script = format!("return document.querySelectorAll({css:?}).length;");
            let n = b.eval(&script).await.as_u64().unwrap();
            assert!(n > 0, "{url}: the seed shows nothing at {css}");
        }
        if *route == "/console/inventory/stock" {
            // The first Tab reaches the skip link, shown when focused.
            let tab = json!([{"type": "keyDown", "value": "\u{E004}"}, {"type": "keyUp", "value": "\u{E004}"}]);
            b.cmd(
                "POST",
                "/actions",
                json!({"actions": [{"type": "key", "id": "keyboard", "actions": tab}]}),
            )
            .await;
            let focused = b
                .eval("const a = document.activeElement; return [a.className, a.getBoundingClientRect().top >= 0];")
                .await;
            assert_eq!(focused, json!(["skip", true]), "the first Tab stop");
        }
        if shots.contains(route) {
            let name = route.trim_start_matches('/').replace(['/', '{', '}'], "-");
            b.screenshot(&artifact(&format!("a11y-{name}-768.png")))
                .await;
        }
        results.push(check(&b, format!("{url} ({})", who.username()), TABLET).await);
        if *route == "/console/inventory/adjustment" {
            // The form's error, tied to the form: a serialized part without its serial.
            b.eval("document.getElementById('sku').value = 'PUMP-7';")
                .await;
            b.type_into("#quantity", "1").await;
            b.click("#submit").await;
            assert!(!b.text("#error").await.is_empty());
            let described = b
                .eval(
                    "return document.querySelector('form.stack').getAttribute('aria-describedby');",
                )
                .await;
            assert_eq!(described, "error", "the error describes the form");
            results.push(check(&b, format!("{url} (with an error)"), TABLET).await);
        }
    }
    // The error page, as that user.
    b.goto(&s.app.url(ERROR_PAGE)).await;
    assert_eq!(heading(&b).await, "404 Not Found");
    results.push(check(&b, "error page (404)".into(), TABLET).await);
    b.quit().await;

    let report: String = results.iter().map(|c| c.line() + "\n").collect();
    let path = artifact("a11y-report.txt");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &report).unwrap();
    let failing: Vec<String> = results
        .iter()
        .filter(|c| c.violations.iter().any(AxeViolation::is_serious) || !c.problems.is_empty())
        .map(Checked::line)
        .collect();
    assert!(
        failing.is_empty(),
        "pages with serious or critical axe violations, sideways scrolling or not one h1:\n{}",
        failing.join("\n")
    );
    // The customer's three, every console page, its form error, the 404.
    assert_eq!(results.len(), 3 + PAGES.len() + 2, "every page checked");
}
