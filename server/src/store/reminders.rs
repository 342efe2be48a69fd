//! The server-written reminders' part of the store's interface: when each customer's next
//! birthday reminder is to be written. Written through [`crate::reminders`].

use super::StoreResult;

pub trait ReminderStore {
    /// When to write a customer's next birthday reminder (`None`: no birthday known).
    fn set_birthday_due(&self, customer_id: &str, branch_id: &str, write_at: Option<i64>) -> StoreResult<()>;

    /// A branch's customers whose birthday reminder is due at `at`, earliest first.
    fn birthdays_due(&self, branch_id: &str, at: i64, limit: u32) -> StoreResult<Vec<String>>;

    /// Branches with a birthday reminder due at `at`.
    fn branches_with_birthdays(&self, at: i64) -> StoreResult<Vec<String>>;

    /// Forgets every row (a rebuild writes them again).
    fn clear_birthday_due(&self) -> StoreResult<()>;
}
