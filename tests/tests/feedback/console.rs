//! Supervisor console pages: results, trend chart, escaped comments,
//! follow-ups resolved through a CSRF-checked form.

use fieldsync_server::testing::TestBackend;

use crate::console_client::Console;
use crate::helpers::backend_tests;
use crate::support::{SmtpSink, answers, customer, fast, link_in, scene, visit};

async fn supervisors_see_results_and_resolve_followups(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let s = scene(backend, |c| fast(c, port)).await;
    let mut phone = s.device(1).await;
    let mut links = Vec::new();
    for (i, email) in ["a@example.com", "b@example.com"].iter().enumerate() {
        let job = s.job(customer(email)).await;
        phone.sync(&s.app).await;
        visit(&mut phone, job);
        phone.sync(&s.app).await;
        assert_eq!(s.deliver().await, 1);
        links.push(link_in(&smtp.messages()[i]));
    }
    let evil = "<script>alert('pwned')</script> & <img src=x onerror=alert(1)>";
    let res = s
        .app
        .client
        .post(&links[0])
        .form(&answers("no", "1", evil))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let mut c = Console::new(&s.app);
    c.login("sofia").await;
    let res = c.get("/console/feedback").await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("Marta Sousa") && page.contains("North"),
        "{page}"
    );
    assert!(page.contains("<svg") && page.contains("Average rating per week"));
    assert!(
        !page.contains("<script>alert"),
        "comment must be escaped: {page}"
    );
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(page.contains(
        "&lt;script&gt;alert('pwned')&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;"
    ));
    // 2 requests, 1 response (not fixed, rated 1, courtesy 5, would
    // recommend 9): the overall row, cell by cell.
    assert_eq!(
        row_cells(&page, "overall"),
        ["2", "1", "50%", "1.00", "5.00", "0%", "100"],
        "{page}"
    );

    let page = c
        .get("/console/feedback/followups")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("not fixed, rated 1/5"), "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
    let csrf = Console::hidden(&page, "csrf");
    let action_start = page.find("/console/feedback/followups/").unwrap();
    let action: String = page[action_start..]
        .chars()
        .take_while(|ch| *ch != '"')
        .collect();
    let res = c.post(&action, &[]).await;
    assert_eq!(res.status(), 403, "no CSRF token, no change");
    let res = c.post(&action, &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    let page = c
        .get("/console/feedback/followups")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("No open follow-ups."), "{page}");

    // A technician is not shown the results.
    let mut t = Console::new(&s.app);
    t.login("marta").await;
    assert_eq!(t.get("/console/feedback").await.status(), 403);
}

backend_tests!(supervisors_see_results_and_resolve_followups);

/// The number cells of the first body row of the table with this id.
fn row_cells(page: &str, table_id: &str) -> Vec<String> {
    let table = &page[page
        .find(&format!("<table id=\"{table_id}\""))
        .unwrap_or_else(|| panic!("no table {table_id}"))..];
    let table = &table[..table.find("</table>").unwrap()];
    let body = &table[table.find("<tbody>").unwrap()..];
    let row = &body[..body.find("</tr>").unwrap()];
    row.split("<td class=\"num\">")
        .skip(1)
        .map(|cell| cell[..cell.find("</td>").unwrap()].to_owned())
        .collect()
}
