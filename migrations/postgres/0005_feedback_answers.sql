-- Feedback answers as rows, one per question (questions are data in
-- server/src/feedback/questions.rs): a new question needs no migration.
-- Moves the answers the columns held, then drops the columns. Keep in step
-- with ../sqlite/0005_feedback_answers.sql.

CREATE TABLE feedback_answers (
    request_id UUID NOT NULL REFERENCES feedback_requests (id),
    question   TEXT NOT NULL,
    -- Yes/no (0, 1) and scales as a score; free text as text.
    score      BIGINT,
    text       TEXT,
    PRIMARY KEY (request_id, question),
    CHECK ((score IS NULL) <> (text IS NULL))
);

INSERT INTO feedback_answers (request_id, question, score, text)
    SELECT id, 'fixed', CASE WHEN fixed THEN 1 ELSE 0 END, NULL FROM feedback_requests
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

ALTER TABLE feedback_requests
    DROP COLUMN fixed,
    DROP COLUMN rating,
    DROP COLUMN courtesy,
    DROP COLUMN recommend,
    DROP COLUMN comment;
