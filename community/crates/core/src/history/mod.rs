//! Defines what `change_history` and `deploy_lock` rows mean and the lock protocol on
//! them; the few database operations they need are the traits in [`store`].

pub mod lock;
pub mod state;
pub mod store;
