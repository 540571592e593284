//! The console's page frame: head, CSS, navigation by permission, the CSRF field.

use fieldsync_core::Permission;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use time::OffsetDateTime;

use super::csrf::CSRF_FIELD;
use super::session::WebUser;

/// Menu entries: (path, label, the permission that shows it).
pub const NAV: &[(&str, &str, Permission)] = &[
    ("/console/dispatch", "Dispatch", Permission::ManageJobs),
    ("/console/inventory/stock", "Stock", Permission::ManageStock),
    (
        "/console/inventory/transfer",
        "Transfer",
        Permission::ManageStock,
    ),
    (
        "/console/inventory/receipt",
        "Receipt",
        Permission::ManageStock,
    ),
    (
        "/console/inventory/adjustment",
        "Adjustment",
        Permission::ManageStock,
    ),
    (
        "/console/inventory/count",
        "Cycle count",
        Permission::ManageStock,
    ),
    (
        "/console/inventory/discrepancies",
        "Discrepancies",
        Permission::ManageStock,
    ),
    (
        "/console/inventory/replenishment",
        "Replenishment",
        Permission::ManageStock,
    ),
    (
        "/console/inventory/consumption",
        "Consumption",
        Permission::ManageStock,
    ),
    ("/console/customers", "Customers", Permission::ViewCustomers),
    (
        "/console/refunds",
        "Refunds to approve",
        Permission::ApproveRefunds,
    ),
    ("/console/feedback", "Feedback", Permission::ViewFeedback),
    (
        "/console/feedback/followups",
        "Follow-ups",
        Permission::ViewFeedback,
    ),
    ("/console/recalls", "Recalls", Permission::ManageCustomers),
    ("/console/shipping", "Shipping", Permission::ManageStock),
    ("/console/users", "Users", Permission::ManageUsers),
    (
        "/console/pricebook",
        "Price book",
        Permission::EditPriceBook,
    ),
    (
        "/console/sync-health",
        "Sync health",
        Permission::ManageUsers,
    ),
    ("/console/desk", "Desk", Permission::UseServiceDesk),
    (
        "/console/my-feedback",
        "My feedback",
        Permission::WorkAssignedJobs,
    ),
    ("/console/invoices", "Invoices", Permission::ManageJobs),
];

/// Small, responsive (laptop and tablet), no external assets.
pub const CSS: &str = r#"
*{box-sizing:border-box}body{margin:0;font:16px/1.4 system-ui,sans-serif;color:#1d232a;background:#f5f6f8}
header{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.6rem 1rem;background:#1f3a5f;color:#fff}
header a{color:#fff;text-decoration:none;padding:.35rem .5rem;border-radius:4px}header a:hover,header a.on{background:#2f5283}
header .who{margin-left:auto;display:flex;gap:.5rem;align-items:center}
main{max-width:72rem;margin:0 auto;padding:1rem}h1{font-size:1.4rem}
table{width:100%;border-collapse:collapse;background:#fff}th,td{padding:.45rem .6rem;border-bottom:1px solid #dde1e6;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.low td{background:#fff6d6}tr.negative td{background:#fde2e1}.badge{font-size:.8rem;padding:.1rem .4rem;border-radius:3px;background:#dde1e6}
tr.low .badge{background:#f2c94c}tr.negative .badge{background:#e5534b;color:#fff}
form.stack{display:grid;gap:.6rem;max-width:28rem;background:#fff;padding:1rem;border-radius:6px}
label{display:grid;gap:.2rem}input,select,button{font:inherit;padding:.45rem;border:1px solid #b8c0c8;border-radius:4px}
button{background:#1f3a5f;color:#fff;border:0;cursor:pointer}button.link{background:none;color:#fff;padding:.35rem .5rem}
.error{color:#b42318}.ok{color:#067647}.muted{color:#5b6670}.scroll{overflow-x:auto}
svg{background:#fff;max-width:100%;height:auto}
dl.job{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}dd{margin:0}
.attachments{display:flex;flex-wrap:wrap;gap:1rem}figure.attachment{margin:0;background:#fff;padding:.5rem;border-radius:6px;max-width:336px}
figure.attachment img{display:block;max-width:320px;max-height:320px}
form.search{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}form.search label{display:block;width:100%}form.search input{flex:1;min-width:14rem}
section.asset{background:#fff;padding:.2rem 1rem 1rem;border-radius:6px;margin-bottom:1rem}.badge.active{background:#c7ebd1}.badge.ended{background:#fde2e1}
.in-stock{color:#067647;font-weight:600}.out-of-stock{color:#b42318;font-weight:600}
dl.campaign{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
input.count{width:6rem;text-align:right}label.serial{display:flex;gap:.4rem;align-items:center}
a.skip{position:absolute;left:.5rem;top:-3rem;z-index:10;background:#fff;color:#1f3a5f;padding:.5rem .8rem;border-radius:4px}a.skip:focus{top:.5rem}
:focus-visible{outline:3px solid #1f3a5f;outline-offset:2px}header :focus-visible{outline-color:#f2c94c}
.visually-hidden{position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;border:0}
header nav{display:flex;flex-wrap:wrap;gap:.25rem}
@media (max-width:48rem){main{padding:.75rem}th,td{padding:.4rem .45rem}}
@media print{header,.noprint,a.skip{display:none}body{background:#fff}main{max-width:none;padding:0}input.count{border:0;border-bottom:1px solid #000;border-radius:0}}
.dashboard{display:grid;grid-template-columns:repeat(auto-fit,minmax(18rem,1fr));gap:0 1.5rem}
tr.pending td{background:#fff6d6}tr.overdue td{background:#fde2e1}tr.remedied td{background:#e3f4e8}
"#;

/// A whole page for a logged-in user.
pub fn page(user: &WebUser, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Fieldsync" }
                style { (PreEscaped(CSS)) }
            }
            body {
                // The first Tab stop: past the menu to the page's content.
                a.skip href="#main" { "Skip to content" }
                header {
                    a href="/console" { strong { "Fieldsync" } }
                    nav aria-label="Console" {
                        @for (href, label, permission) in NAV {
                            @if user.can(*permission) {
                                a href=(href) { (label) }
                            }
                        }
                    }
                    div.who {
                        span { (user.username) " (" (user.role.as_str()) ")" }
                        form method="post" action="/console/logout" {
                            (csrf_field(user))
                            button.link type="submit" id="logout" { "Log out" }
                        }
                    }
                }
                main id="main" tabindex="-1" { h1 { (title) } (content) }
            }
        }
    }
}

/// A page without a session (login).
pub fn bare_page(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Fieldsync" }
                style { (PreEscaped(CSS)) }
            }
            body { main { h1 { (title) } (content) } }
        }
    }
}

/// The hidden CSRF input every POST form must contain.
pub fn csrf_field(user: &WebUser) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(user.csrf_token); }
}

/// A UTC time to the minute, "2026-11-30 09:05", as the console shows them.
pub fn date_time(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}
