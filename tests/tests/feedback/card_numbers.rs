//! The public form refuses a card number in the comment: a 400 page that
//! says why, never shows the number (not even back in the comment box),
//! and stores nothing; a NUL in the comment is refused the same way.

use fieldsync_server::testing::TestBackend;

use crate::helpers::backend_tests;
use crate::support::{SmtpSink, answers, customer, fast, link_in, scene, visit};

backend_tests!(a_card_number_in_the_comment_is_refused_and_nothing_is_stored);

async fn a_card_number_in_the_comment_is_refused_and_nothing_is_stored(backend: TestBackend) {
    let smtp = SmtpSink::start().await;
    let port = smtp.port;
    let s = scene(backend, |c| fast(c, port)).await;
    let job = s.job(customer("ana@example.com")).await;
    let mut phone = s.device(1).await;
    visit(&mut phone, job);
    phone.sync(&s.app).await;
    assert_eq!(s.deliver().await, 1);
    let link = link_in(&smtp.messages()[0]);
    let post = |comment: &'static str| {
        s.app
            .client
            .post(&link)
            .form(&answers("yes", "5", comment))
            .send()
    };

    for comment in [
        "paid the rest with 4111 1111 1111 1111, thanks",
        "card 5500-0000-0000-0004",
        "nul \u{0} in the text",
    ] {
        let res = post(comment).await.unwrap();
        assert_eq!(res.status(), 400, "{comment}");
        let page = res.text().await.unwrap();
        assert!(page.contains("Please"), "{page}");
        for digits in ["4111", "5500"] {
            assert!(!page.contains(digits), "the number is shown back: {page}");
        }
        let answered = s.feedback(job).await.unwrap()["request"]["answer"].clone();
        assert!(answered.is_null(), "stored: {answered}");
    }
    let res = post("Great work").await.unwrap();
    assert_eq!(res.status(), 200);
    let answered = s.feedback(job).await.unwrap()["request"]["answer"].clone();
    assert_eq!(answered["comment"], "Great work");
}
