-- Feedback answers as rows, one per question (questions are data in
-- server/src/feedback/questions.rs): a new question needs no migration.
-- Moves the answers the columns held, then drops the columns. Keep in step
-- with ../postgres/0005_feedback_answers.sql.

CREATE TABLE feedback_answers (
    request_id TEXT NOT NULL REFERENCES feedback_requests (id),
    question   TEXT NOT NULL,
    -- Yes/no (0, 1) and scales as a score; free text as text.
    score      INTEGER,
    text       TEXT,
    PRIMARY KEY (request_id, question),
    CHECK ((score IS NULL) <> (text IS NULL))
);

INSERT INTO feedback_answers (request_id, question, score, text)
    SELECT id, 'fixed', fixed, NULL FROM feedback_requests
    WHERE answered_at IS NOT NULL AND fixed IS NOT NULL;
INSERT INTO feedback_answers (request_id, question, score, text)
    SELECT id, 'rating', rating, NULL FROM feedback_requests
    WHERE answered_at IS NOT NULL AND rating IS NOT NULL;
INSERT INTO feedback_answers (request_id, question, score, text)
    SELECT id, 'courtesy', courtesy, NULL FROM feedback_requests
    WHERE answered_at IS NOT NULL AND courtesy IS NOT NULL;
INSERT INTO feedback_answers (request_id, question, score, text)
    SELECT id, 'recommend', recommend, NULL FROM feedback_requests
    WHERE answered_at IS NOT NULL AND recommend IS NOT NULL;
INSERT INTO feedback_answers (request_id, question, score, text)
    SELECT id, 'comment', NULL, COALESCE(comment, '') FROM feedback_requests
    WHERE answered_at IS NOT NULL;

ALTER TABLE feedback_requests DROP COLUMN fixed;
ALTER TABLE feedback_requests DROP COLUMN rating;
ALTER TABLE feedback_requests DROP COLUMN courtesy;
ALTER TABLE feedback_requests DROP COLUMN recommend;
ALTER TABLE feedback_requests DROP COLUMN comment;
