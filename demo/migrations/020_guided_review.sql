-- 020: guided review (복기) — a review per trading day with its items, and
-- the streak of consecutive days a user has reviewed. (No position column on
-- the items: the app's real 020 creates none.)

CREATE TABLE guided_reviews (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    review_date date        NOT NULL,
    status      text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT guided_reviews_user_date_key UNIQUE (user_id, review_date)
);
CREATE TRIGGER guided_reviews_set_updated_at BEFORE UPDATE ON guided_reviews
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE guided_review_items (
    id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    review_id uuid   NOT NULL REFERENCES guided_reviews (id) ON DELETE CASCADE,
    trade_id  bigint REFERENCES trades (id) ON DELETE SET NULL,
    question  text   NOT NULL,
    answer    text
);

CREATE TABLE user_streaks (
    user_id          uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    current_streak   integer NOT NULL DEFAULT 0,
    longest_streak   integer NOT NULL DEFAULT 0,
    last_review_date date
);

-- Completing a review extends the streak if yesterday was reviewed, else restarts it.
CREATE FUNCTION bump_user_streak() RETURNS trigger
LANGUAGE plpgsql AS $body$
DECLARE
    previous date;
BEGIN
    IF NEW.status <> 'completed' OR OLD.status = 'completed' THEN
        RETURN NEW;
    END IF;
    SELECT last_review_date INTO previous FROM user_streaks WHERE user_id = NEW.user_id;
    INSERT INTO user_streaks (user_id, current_streak, longest_streak, last_review_date)
    VALUES (NEW.user_id, 1, 1, NEW.review_date)
    ON CONFLICT (user_id) DO UPDATE SET
        current_streak = CASE WHEN previous = NEW.review_date - 1 THEN user_streaks.current_streak + 1 ELSE 1 END,
        longest_streak = greatest(user_streaks.longest_streak,
                                  CASE WHEN previous = NEW.review_date - 1 THEN user_streaks.current_streak + 1 ELSE 1 END),
        last_review_date = NEW.review_date;
    RETURN NEW;
END;
$body$;

CREATE TRIGGER guided_reviews_bump_streak AFTER UPDATE OF status ON guided_reviews
    FOR EACH ROW EXECUTE FUNCTION bump_user_streak();
