-- user_version 2: reminders get a projection of their own, for the "upcoming reminders" screen.
CREATE TABLE reminders (
    customer_id TEXT NOT NULL,
    reminder_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    due_at INTEGER NOT NULL,
    done INTEGER NOT NULL,
    PRIMARY KEY (customer_id, reminder_id)
);
CREATE INDEX reminders_due ON reminders (done, due_at);
